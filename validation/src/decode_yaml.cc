// YAML input: every document is read through yaml-cpp's event interface and built directly as
// JSON, recording the line of every field path on the way. Building from events (instead of
// YAML::Node trees) keeps memory flat: a List's items are handed to the sink one at a time and
// dropped, just as for JSON. The reader refuses duplicate keys, limits nesting and the expansion
// of aliases (a "billion laughs" document), and supports `<<` merge keys.
#include <algorithm>
#include <istream>
#include <streambuf>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include "decode_messages.h"
#include "decode_sink.h"
#include "decode_yaml_scalar.h"

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;

// An istream over the caller's text, without copying it.
class TextStreamBuffer final : public std::streambuf {
 public:
  explicit TextStreamBuffer(std::string_view text) {
    // The buffer is only read; streambuf's interface merely lacks const.
    char* begin = const_cast<char*>(text.data());
    setg(begin, begin, begin + text.size());
  }
};

struct ReadFailure {
  Error error;
};

// Every input byte may yield about one node; aliases may add this many more per text.
constexpr std::size_t kAliasNodeAllowance = 100'000;

class YamlReader final : public YAML::EventHandler {
 public:
  YamlReader(std::string_view text, const ReadOptions& options, DocumentSink& sink)
      : text_(text),
        options_(options),
        sink_(sink),
        alias_node_budget_(text.size() + kAliasNodeAllowance) {}

  void run() {
    TextStreamBuffer buffer(text_);
    std::istream stream(&buffer);
    try {
      YAML::Parser parser(stream);
      while (parser.HandleNextDocument(*this)) {
      }
    } catch (const ReadFailure& failure) {
      sink_.abandonDocument();
      sink_.error(failure.error);
    } catch (const StopReading&) {
      sink_.abandonDocument();
    } catch (const YAML::DeepRecursion& error) {
      sink_.abandonDocument();
      sink_.error(
          syntaxError("limit.depth", error.mark, "nesting is deeper than the YAML parser allows"));
    } catch (const YAML::Exception& error) {
      sink_.abandonDocument();
      sink_.error(syntaxError("yaml.syntax", error.mark, error.msg));
    }
  }

  // --- YAML::EventHandler -------------------------------------------------------------------

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 reports empty documents forever at a token it cannot use (a stray `,` at the
    // top level): a document starting where the previous one started means no progress.
    if (document_ >= 0 && mark.pos == last_document_start_) {
      std::string unexpected = "this text";
      if (mark.pos >= 0 && static_cast<std::size_t>(mark.pos) < text_.size()) {
        unexpected = quoteText(text_.substr(static_cast<std::size_t>(mark.pos), 1));
      }
      throw ReadFailure{syntaxError("yaml.syntax", mark,
                                    "unexpected " + unexpected + " where a document should start")};
    }
    last_document_start_ = mark.pos;
    ++document_;
    frames_.clear();
    anchors_.clear();
    root_ = nullptr;
    root_line_ = 0;
    path_.clear();
    document_lines_.clear();
    root_kind_.clear();
    root_api_version_.clear();
    items_streamed_ = false;
    in_item_ = false;
    document_poisoned_ = false;
    if (!sink_.beginDocument(document_)) throw StopReading{};
  }

  void OnDocumentEnd() override {
    if (document_poisoned_) {
      sink_.abandonDocument();
      return;
    }
    sink_.endDocument(root_, LineIndex::fromPaths(root_line_, std::move(document_lines_)),
                      items_streamed_);
    document_lines_ = {};
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Role role = place(mark);
    if (role == Role::Key) {
      acceptKey("", mark.line + 1, /*plain=*/true);
      return;
    }
    if (anchor != YAML::NullAnchor) remember(anchor, Json(nullptr), 1, 0);
    deliver(Json(nullptr), role, 1, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    const Role role = place(mark);
    if (role == Role::Key) {
      if (anchor != YAML::NullAnchor) remember(anchor, Json(value), 1, 0);
      acceptKey(value, mark.line + 1, tag == "?");
      return;
    }
    Json scalar = yamlScalarValue(tag, value);
    if (anchor != YAML::NullAnchor) remember(anchor, scalar, 1, 0);
    deliver(std::move(scalar), role, 1, 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Role role = place(mark);
    const auto found = anchors_.find(anchor);
    if (found == anchors_.end()) {
      fail("yaml.alias", mark,
           "an alias refers to a node that encloses it; such a cycle has no JSON form");
    }
    const Anchored& anchored = found->second;
    alias_nodes_ += anchored.nodes;
    if (alias_nodes_ > alias_node_budget_) {
      fail("limit.aliases", mark,
           "aliases expand to more than " + std::to_string(alias_node_budget_) +
               " nodes; expand them by hand if this document is meant to be that large");
    }
    if (static_cast<int>(frames_.size()) + anchored.height > options_.limits.max_depth) {
      fail("limit.depth", mark, depthMessage());
    }
    if (role == Role::Key) {
      if (!anchored.value.is_string()) badKey(mark.line + 1);
      acceptKey(anchored.value.is_string() ? anchored.value.get<std::string>() : std::string{},
                mark.line + 1, /*plain=*/false);
      return;
    }
    deliver(Json(anchored.value), role, anchored.nodes, anchored.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, /*is_map=*/false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open(mark, anchor, /*is_map=*/true);
  }
  void OnMapEnd() override { close(); }

 private:
  // What a node is to its parent.
  enum class Role { Root, Key, Value, Element, Item };

  struct Frame {
    Json value;
    bool is_map = false;
    bool is_items = false;  // the streamed `items` sequence
    Role role = Role::Root;
    int line = 0;
    std::size_t path_length = 0;  // path_ of this node is path_.substr(0, path_length)
    std::size_t next_index = 0;   // sequences
    bool have_key = false;        // maps: a key was read, its value is pending
    bool merging = false;         // maps: the pending key is `<<`
    std::string key;
    std::vector<Json> merges;
    YAML::anchor_t anchor = YAML::NullAnchor;
    std::size_t nodes = 1;
    int height = 1;
  };

  struct Anchored {
    Json value;
    std::size_t nodes = 1;
    int height = 0;
  };

  // Places a new node under the innermost open container and sets path_ to its path.
  Role place(const YAML::Mark& mark) {
    const int line = mark.line + 1;
    if (frames_.empty()) {
      path_.clear();
      root_line_ = line;
      return Role::Root;
    }
    Frame& parent = frames_.back();
    if (parent.is_map) return parent.have_key ? Role::Value : Role::Key;
    const std::size_t index = parent.next_index++;
    path_.resize(parent.path_length);
    path_ += '[';
    path_ += std::to_string(index);
    path_ += ']';
    if (parent.is_items) {
      in_item_ = true;
      item_poisoned_ = false;
      item_index_ = static_cast<int>(index);
      item_line_ = line;
      item_path_ = path_;
      item_lines_.clear();
      return Role::Item;
    }
    recordLine(line);
    return Role::Element;
  }

  void acceptKey(const std::string& key, int line, bool plain) {
    Frame& map = frames_.back();
    map.have_key = true;
    map.key = key;
    map.merging = plain && key == "<<";
    path_.resize(map.path_length);
    if (!path_.empty()) path_ += '.';
    path_ += key;
    if (!map.merging && map.value.contains(key)) {
      report("yaml.duplicate_key", line,
             "duplicate key " + quoteText(key) +
                 " in the same map; YAML forbids it and tools disagree on which value wins, "
                 "so keep only one");
    }
    recordLine(line);
  }

  void badKey(int line) {
    report("yaml.key", line, "a map key must be a string, not a map or a list");
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    const Role role = place(mark);
    if (static_cast<int>(frames_.size()) >= options_.limits.max_depth) {
      fail("limit.depth", mark, depthMessage());
    }
    Frame frame;
    frame.value = is_map ? Json::object() : Json::array();
    frame.is_map = is_map;
    frame.role = role;
    frame.line = mark.line + 1;
    frame.path_length = path_.size();
    frame.anchor = anchor;
    if (!is_map && options_.stream_list_items) {
      const bool root_sequence = role == Role::Root;
      const bool root_items =
          role == Role::Value && frames_.size() == 1 && frames_.front().key == "items";
      if (root_sequence || root_items) {
        frame.is_items = true;
        items_streamed_ = true;
      }
    }
    frames_.push_back(std::move(frame));
  }

  void close() {
    Frame frame = std::move(frames_.back());
    frames_.pop_back();
    if (frame.is_map && !frame.merges.empty()) applyMerges(frame);
    if (frame.anchor != YAML::NullAnchor) {
      remember(frame.anchor, frame.value, frame.nodes, frame.height);
    }
    if (frame.role == Role::Key) {
      badKey(frame.line);
      acceptKey("", frame.line, /*plain=*/false);
      return;
    }
    deliver(std::move(frame.value), frame.role, frame.nodes, frame.height);
  }

  // A complete node goes to its parent (or is the root, or a List item for the sink).
  void deliver(Json value, Role role, std::size_t nodes, int height) {
    switch (role) {
      case Role::Root:
        root_ = std::move(value);
        return;
      case Role::Item:
        finishItem(value);
        return;
      case Role::Key:
        return;  // handled by the callers
      case Role::Element:
      case Role::Value:
        break;
    }
    Frame& parent = frames_.back();
    parent.nodes += nodes;
    parent.height = std::max(parent.height, height + 1);
    if (role == Role::Element) {
      parent.value.push_back(std::move(value));
      return;
    }
    if (frames_.size() == 1 && value.is_string()) {
      if (parent.key == "kind") root_kind_ = value.get<std::string>();
      if (parent.key == "apiVersion") root_api_version_ = value.get<std::string>();
    }
    if (parent.merging) {
      parent.merges.push_back(std::move(value));
    } else {
      parent.value[parent.key] = std::move(value);
    }
    parent.have_key = false;
    parent.merging = false;
  }

  // `<<: *defaults` (or a list of them): keys written in the map win, then earlier sources.
  void applyMerges(Frame& map) {
    const auto merge = [&](const Json& source) {
      for (const auto& [key, value] : source.items()) {
        if (!map.value.contains(key)) map.value[key] = value;
      }
    };
    for (const Json& source : map.merges) {
      if (source.is_object()) {
        merge(source);
        continue;
      }
      const bool list_of_maps =
          source.is_array() &&
          std::all_of(source.begin(), source.end(), [](const Json& m) { return m.is_object(); });
      if (!list_of_maps) {
        path_.resize(map.path_length);
        report("yaml.merge", map.line,
               "the value of a merge key `<<` must be a map or a list of maps, not " +
                   std::string(typeName(source)));
        continue;
      }
      for (const Json& each : source) merge(each);
    }
  }

  void finishItem(Json& item) {
    in_item_ = false;
    if (item_poisoned_) return;
    if (!item.is_object()) {
      Error problem;
      problem.code = "schema.type";
      problem.document = item_index_;
      problem.line = item_line_;
      problem.path = item_path_;
      problem.message = "expected a Kubernetes object (a map with apiVersion and kind), got " +
                        std::string(typeName(item));
      sink_.error(std::move(problem));
      return;
    }
    const ItemPlace place{item_index_, item_line_, item_path_, root_kind_, root_api_version_};
    if (!sink_.listItem(item, place, LineIndex::fromPaths(item_line_, std::move(item_lines_)))) {
      throw StopReading{};
    }
    item_lines_ = {};
  }

  void remember(YAML::anchor_t anchor, const Json& value, std::size_t nodes, int height) {
    anchors_[anchor] = Anchored{value, nodes, height};
  }

  // The line of path_, relative to the current List item when inside one.
  void recordLine(int line) {
    if (!in_item_) {
      document_lines_[path_] = line;
      return;
    }
    std::string_view relative = std::string_view(path_).substr(item_path_.size());
    if (relative.starts_with('.')) relative.remove_prefix(1);
    if (!relative.empty()) item_lines_[std::string(relative)] = line;
  }

  // An error at path_ that makes the current item (or document) unusable; reading goes on.
  void report(std::string code, int line, std::string message) {
    Error problem;
    problem.code = std::move(code);
    problem.document = in_item_ ? item_index_ : document_;
    problem.line = line;
    problem.path = path_;
    problem.message = std::move(message);
    sink_.error(std::move(problem));
    (in_item_ ? item_poisoned_ : document_poisoned_) = true;
  }

  // An error after which the text is not read further.
  [[noreturn]] void fail(std::string code, const YAML::Mark& mark, std::string message) {
    Error problem;
    problem.code = std::move(code);
    problem.document = in_item_ ? item_index_ : document_;
    problem.line = mark.line + 1;
    problem.path = path_;
    problem.message = std::move(message);
    throw ReadFailure{std::move(problem)};
  }

  std::string depthMessage() const {
    return "nesting is deeper than " + std::to_string(options_.limits.max_depth) +
           " levels; no Kubernetes object needs that";
  }

  Error syntaxError(std::string code, const YAML::Mark& mark, const std::string& message) const {
    Error problem;
    problem.code = std::move(code);
    problem.document = std::max(document_, 0);
    problem.line = mark.is_null() ? 0 : mark.line + 1;
    problem.message = "invalid YAML";
    if (!mark.is_null()) problem.message += " at column " + std::to_string(mark.column + 1);
    problem.message += ": " + message;
    return problem;
  }

  std::string_view text_;
  const ReadOptions& options_;
  DocumentSink& sink_;
  std::size_t alias_node_budget_;
  std::size_t alias_nodes_ = 0;

  int document_ = -1;
  int last_document_start_ = -1;
  std::vector<Frame> frames_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  Json root_;
  int root_line_ = 0;
  std::string path_;
  LinesByPath document_lines_;
  std::string root_kind_;
  std::string root_api_version_;
  bool items_streamed_ = false;
  bool document_poisoned_ = false;

  bool in_item_ = false;
  bool item_poisoned_ = false;
  int item_index_ = 0;
  int item_line_ = 0;
  std::string item_path_;
  LinesByPath item_lines_;
};

}  // namespace

void readYamlText(std::string_view text, const ReadOptions& options, DocumentSink& sink) {
  YamlReader reader(text, options, sink);
  reader.run();
}

}  // namespace peergate::validation::detail
