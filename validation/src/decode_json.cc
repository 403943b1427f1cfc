// JSON input: one document, read with nlohmann's callback parser so that (a) a duplicate key is
// an error instead of a silent overwrite, (b) nesting is limited, and (c) the items of a List are
// handed to the sink one by one and dropped, keeping memory flat on `kubectl get -o json` dumps.
#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "decode_messages.h"
#include "decode_sink.h"
#include "decode_text_cursor.h"

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;
using Event = Json::parse_event_t;

// Keys already seen in one open object. Most objects are small: a short list, searched
// linearly, becomes a hash set when it grows.
class KeySet {
 public:
  void clear() {
    small_count_ = 0;
    large_.clear();
  }
  // false when `key` was already there.
  bool insert(const std::string& key) {
    if (!large_.empty()) return large_.insert(key).second;
    for (std::size_t i = 0; i < small_count_; ++i) {
      if (small_[i] == key) return false;
    }
    if (small_count_ == kSmall) {
      large_.insert(small_.begin(), small_.end());
      large_.insert(key);
      return true;
    }
    if (small_.size() == small_count_) small_.emplace_back();
    small_[small_count_++] = key;
    return true;
  }

 private:
  static constexpr std::size_t kSmall = 16;
  std::vector<std::string> small_;
  std::size_t small_count_ = 0;
  std::unordered_set<std::string, StringViewHash, std::equal_to<>> large_;
};

// One open object or array.
struct Frame {
  bool is_array = false;
  std::size_t next_index = 0;  // arrays: index of the next element
  std::string key;             // objects: the key being read
  KeySet keys;
};

// Thrown from the parser callback with the error to report.
struct ReadFailure {
  Error error;
};

class JsonReader {
 public:
  JsonReader(std::string_view text, const ReadOptions& options, DocumentSink& sink)
      : text_(text), options_(options), sink_(sink), progress_(text.data()) {}

  void run() {
    if (!sink_.beginDocument(0)) return;
    Json root;
    try {
      root = Json::parse(
          TextCursor(text_.data(), &progress_), TextCursor(text_.data() + text_.size(), &progress_),
          [this](int depth, Event event, Json& parsed) { return onEvent(depth, event, parsed); },
          /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const ReadFailure& failure) {
      sink_.abandonDocument();
      sink_.error(failure.error);
      return;
    } catch (const StopReading&) {
      sink_.abandonDocument();
      return;
    } catch (const Json::parse_error& error) {
      sink_.abandonDocument();
      sink_.error(syntaxError(error.byte, error.what()));
      return;
    } catch (const Json::exception& error) {  // e.g. a number too large for a double
      sink_.abandonDocument();
      sink_.error(syntaxError(offset(), error.what()));
      return;
    }
    if (root_poisoned_) {
      sink_.abandonDocument();
      return;
    }
    const std::size_t start = std::min(text_.find_first_not_of(" \t\r\n"), text_.size());
    sink_.endDocument(root, LineIndex::fromJsonText(text_.substr(start), lineAt(text_, start)),
                      items_streamed_);
  }

 private:
  bool onEvent(int depth, Event event, Json& parsed) {
    switch (event) {
      case Event::object_start:
        return onOpen(depth, /*is_array=*/false);
      case Event::array_start:
        return onOpen(depth, /*is_array=*/true);
      case Event::key:
        return onKey(depth, parsed);
      case Event::value:
        return onValue(depth, parsed);
      case Event::object_end:
        return onClose(depth, /*is_array=*/false, parsed);
      case Event::array_end:
        return onClose(depth, /*is_array=*/true, parsed);
    }
    return true;
  }

  bool onOpen(int depth, bool is_array) {
    countElement();
    if (depth >= options_.limits.max_depth) {
      throw ReadFailure{error("limit.depth", currentPath(),
                              "nesting is deeper than " +
                                  std::to_string(options_.limits.max_depth) +
                                  " levels; no Kubernetes object needs that")};
    }
    if (depth == 0) {
      root_is_array_ = is_array;
      items_streamed_ = is_array && options_.stream_list_items;
    }
    const bool item = isItemDepth(depth);
    pushFrame(is_array);
    if (item) {
      beginItem();
    } else if (depth == 1 && is_array && !root_is_array_ && options_.stream_list_items &&
               root_key_ == "items") {
      in_items_ = true;
      items_streamed_ = true;
    }
    return true;
  }

  bool onKey(int depth, const Json& parsed) {
    Frame& frame = frames_[depth_ - 1];
    frame.key = parsed.get_ref<const std::string&>();
    if (!frame.keys.insert(frame.key)) {
      sink_.error(error("json.duplicate_key", currentPath(),
                        "duplicate key " + quoteText(frame.key) +
                            " in the same object; JSON parsers disagree on which value wins, "
                            "so keep only one"));
      (in_item_ ? item_poisoned_ : root_poisoned_) = true;
    }
    if (depth == 1 && !root_is_array_) root_key_ = frame.key;
    return true;
  }

  bool onValue(int depth, const Json& parsed) {
    if (depth == 0) return true;
    countElement();
    if (isItemDepth(depth)) {
      const int index = static_cast<int>(frames_[depth_ - 1].next_index) - 1;
      Error problem = error("schema.type", itemPath(index),
                            "expected a Kubernetes object (a map with apiVersion and kind), got " +
                                std::string(typeName(parsed)));
      problem.document = index;
      sink_.error(std::move(problem));
      return false;
    }
    if (depth == 1 && !root_is_array_ && parsed.is_string()) {
      if (root_key_ == "kind") root_kind_ = parsed.get<std::string>();
      if (root_key_ == "apiVersion") root_api_version_ = parsed.get<std::string>();
    }
    return true;
  }

  bool onClose(int depth, bool is_array, Json& parsed) {
    --depth_;
    if (isItemDepth(depth)) {
      finishItem(is_array, parsed);
      return false;  // drop the item: the sink has what it needs
    }
    if (depth == 1 && is_array && in_items_) in_items_ = false;
    return true;
  }

  bool isItemDepth(int depth) const {
    return (in_items_ && depth == 2) ||
           (root_is_array_ && options_.stream_list_items && depth == 1);
  }

  void beginItem() {
    item_index_ = static_cast<int>(frames_[depth_ - 2].next_index) - 1;
    item_start_ = offset() - 1;  // the `{` was just read
    item_line_ = lineAtOffset(item_start_);
    item_path_ = itemPath(item_index_);
    in_item_ = true;
    item_poisoned_ = false;
  }

  void finishItem(bool is_array, Json& item) {
    in_item_ = false;
    if (item_poisoned_) return;
    if (is_array) {
      Error problem = error("schema.type", item_path_,
                            "expected a Kubernetes object (a map with apiVersion and kind), got a "
                            "list");
      problem.document = item_index_;
      problem.line = item_line_;
      sink_.error(std::move(problem));
      return;
    }
    const ItemPlace place{item_index_, item_line_, item_path_, root_kind_, root_api_version_};
    auto lines =
        LineIndex::fromJsonText(text_.substr(item_start_, offset() - item_start_), item_line_);
    if (!sink_.listItem(item, place, std::move(lines))) throw StopReading{};
  }

  void pushFrame(bool is_array) {
    if (frames_.size() == depth_) frames_.emplace_back();
    Frame& frame = frames_[depth_++];
    frame.is_array = is_array;
    frame.next_index = 0;
    frame.key.clear();
    frame.keys.clear();
  }

  // A new element starts in the innermost open container: arrays count their elements.
  void countElement() {
    if (depth_ > 0 && frames_[depth_ - 1].is_array) ++frames_[depth_ - 1].next_index;
  }

  std::string itemPath(int index) const {
    return (root_is_array_ ? "[" : "items[") + std::to_string(index) + "]";
  }

  // The path of the element being read, e.g. items[3].metadata.labels.app.
  std::string currentPath() const {
    std::string path;
    for (std::size_t i = 0; i < depth_; ++i) {
      const Frame& frame = frames_[i];
      if (frame.is_array) {
        if (frame.next_index == 0) break;
        path += '[' + std::to_string(frame.next_index - 1) + ']';
      } else {
        if (!path.empty()) path += '.';
        path += frame.key;
      }
    }
    return path;
  }

  Error error(std::string code, std::string path, std::string message) {
    Error result;
    result.code = std::move(code);
    result.document = in_item_ ? item_index_ : 0;
    result.line = lineAtOffset(offset() == 0 ? 0 : offset() - 1);
    result.path = std::move(path);
    result.message = std::move(message);
    return result;
  }

  Error syntaxError(std::size_t byte, std::string_view what) {
    // nlohmann: "[json.exception.parse_error.101] parse error at line 1, column 5: <detail>"
    std::string_view detail = what;
    if (const auto column_at = detail.find(", column "); column_at != std::string_view::npos) {
      if (const auto colon = detail.find(": ", column_at); colon != std::string_view::npos) {
        detail = detail.substr(colon + 2);
      }
    } else if (const auto bracket = detail.find("] "); bracket != std::string_view::npos) {
      detail = detail.substr(bracket + 2);
    }
    const std::size_t at = std::min(byte == 0 ? 0 : byte - 1, text_.size());
    std::size_t column = at + 1;
    if (at > 0) {
      const std::size_t newline = text_.rfind('\n', at - 1);
      if (newline != std::string_view::npos) column = at - newline;
    }
    Error result;
    result.code = "json.syntax";
    result.document = in_item_ ? item_index_ : 0;
    result.line = lineAt(text_, at);
    result.message =
        "invalid JSON at column " + std::to_string(column) + ": " + std::string(detail);
    return result;
  }

  std::size_t offset() const { return static_cast<std::size_t>(progress_ - text_.data()); }

  // Lines of offsets that only grow (item starts): counted incrementally, once per byte.
  int lineAtOffset(std::size_t at) {
    at = std::min(at, text_.size());
    if (at < counted_offset_) return lineAt(text_, at);
    counted_lines_ +=
        static_cast<int>(std::count(text_.begin() + static_cast<std::ptrdiff_t>(counted_offset_),
                                    text_.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
    counted_offset_ = at;
    return counted_lines_;
  }

  std::string_view text_;
  const ReadOptions& options_;
  DocumentSink& sink_;
  const char* progress_;
  std::size_t counted_offset_ = 0;
  int counted_lines_ = 1;

  std::vector<Frame> frames_;  // reused across objects; the first depth_ are open
  std::size_t depth_ = 0;
  bool root_is_array_ = false;
  bool root_poisoned_ = false;
  std::string root_key_;
  std::string root_kind_;
  std::string root_api_version_;
  bool in_items_ = false;
  bool items_streamed_ = false;
  bool in_item_ = false;
  bool item_poisoned_ = false;
  int item_index_ = 0;
  int item_line_ = 0;
  std::size_t item_start_ = 0;
  std::string item_path_;
};

}  // namespace

bool looksLikeJson(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

void readJsonText(std::string_view text, const ReadOptions& options, DocumentSink& sink) {
  JsonReader reader(text, options, sink);
  reader.run();
}

}  // namespace peergate::validation::detail
