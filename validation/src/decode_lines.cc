#include "decode_lines.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "decode_text_cursor.h"

namespace peergate::validation::detail {
namespace {

bool isAncestorPath(std::string_view ancestor, std::string_view path) {
  return path.size() > ancestor.size() && path.starts_with(ancestor) &&
         (path[ancestor.size()] == '.' || path[ancestor.size()] == '[');
}

// Re-reads a JSON text and stops at the field `target`, remembering the line of the deepest
// ancestor seen on the way (for a field that is missing).
class PathLineFinder final : public nlohmann::json_sax<nlohmann::json> {
 public:
  PathLineFinder(std::string_view text, int first_line, std::string_view target,
                 const char* const* progress)
      : text_(text),
        target_(target),
        progress_(progress),
        counted_to_(text.data()),
        line_(first_line),
        best_(first_line) {}

  int bestLine() const { return best_; }

  bool null() override { return element(); }
  bool boolean(bool /*value*/) override { return element(); }
  bool number_integer(number_integer_t /*value*/) override { return element(); }
  bool number_unsigned(number_unsigned_t /*value*/) override { return element(); }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override {
    return element();
  }
  bool string(string_t& /*value*/) override { return element(); }
  bool binary(binary_t& /*value*/) override { return element(); }
  bool start_object(std::size_t /*elements*/) override { return open(false); }
  bool start_array(std::size_t /*elements*/) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& name) override {
    path_.resize(frames_.back().path_length);
    if (!path_.empty()) path_ += '.';
    path_ += name;
    return visit();
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;
  }

 private:
  struct Frame {
    bool is_array = false;
    std::size_t next_index = 0;
    std::size_t path_length = 0;
  };

  // A value inside an array gets the path `array[i]`; other values were named by their key.
  bool element() {
    if (frames_.empty() || !frames_.back().is_array) return true;
    Frame& array = frames_.back();
    path_.resize(array.path_length);
    path_ += '[';
    path_ += std::to_string(array.next_index++);
    path_ += ']';
    return visit();
  }
  bool open(bool is_array) {
    if (!element()) return false;
    frames_.push_back({is_array, 0, path_.size()});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  bool visit() {
    if (path_ == target_) {
      best_ = currentLine();
      return false;  // found: stop reading
    }
    if (isAncestorPath(path_, target_)) best_ = currentLine();
    return true;
  }
  int currentLine() {
    const char* until = std::min(*progress_, text_.data() + text_.size());
    line_ += static_cast<int>(std::count(counted_to_, until, '\n'));
    counted_to_ = until;
    return line_;
  }

  std::string_view text_;
  std::string_view target_;
  const char* const* progress_;
  const char* counted_to_;
  int line_;
  int best_;
  std::string path_;
  std::vector<Frame> frames_;
};

int findJsonLine(std::string_view text, int first_line, std::string_view path) {
  const char* progress = text.data();
  PathLineFinder finder(text, first_line, path, &progress);
  try {
    nlohmann::json::sax_parse(TextCursor(text.data(), &progress),
                              TextCursor(text.data() + text.size(), &progress), &finder,
                              nlohmann::json::input_format_t::json, /*strict=*/false);
  } catch (...) {
    // The text was parsed once already; whatever stops the second reading, keep the best line.
  }
  return finder.bestLine();
}

}  // namespace

LineIndex LineIndex::fixed(int line) {
  LineIndex index;
  index.unit_line_ = line;
  return index;
}

LineIndex LineIndex::fromPaths(int unit_line, LinesByPath lines) {
  LineIndex index;
  index.unit_line_ = unit_line;
  index.lines_ = std::move(lines);
  return index;
}

LineIndex LineIndex::fromJsonText(std::string_view unit_text, int unit_line) {
  LineIndex index;
  index.unit_line_ = unit_line;
  index.json_text_ = unit_text;
  index.is_json_ = true;
  return index;
}

int LineIndex::lineOf(std::string_view path) const {
  if (path.empty() || unit_line_ == 0) return unit_line_;
  if (is_json_) return findJsonLine(json_text_, unit_line_, path);
  if (lines_.empty()) return unit_line_;
  std::string_view probe = path;
  while (!probe.empty()) {
    if (auto it = lines_.find(probe); it != lines_.end()) return it->second;
    const std::size_t cut = probe.find_last_of(".[");
    if (cut == std::string_view::npos) break;
    probe = probe.substr(0, cut);
  }
  return unit_line_;
}

int lineAt(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(),
                                         text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

}  // namespace peergate::validation::detail
