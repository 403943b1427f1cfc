#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace peergate::validation::detail {

// Hash for string maps that are searched with string_views (no temporary strings).
struct StringViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

using LinesByPath = std::unordered_map<std::string, int, StringViewHash, std::equal_to<>>;

// The 1-based line of every field of one unit of input (a document, or one item of a List), so
// that an error on `spec.selector.matchLabels` can say where that is. Paths are relative to the
// unit and spelled as in error messages (`spec.ports[1].port`). A path that was never written
// (a missing field) gets the line of its nearest written ancestor; 0 means unknown.
class LineIndex {
 public:
  LineIndex() = default;  // nothing known: every path maps to line 0

  // Every path maps to `line` (an object handed over already parsed, e.g. by the webhook).
  static LineIndex fixed(int line);
  // YAML: the parser recorded each path's line while it built the unit.
  static LineIndex fromPaths(int unit_line, LinesByPath lines);
  // JSON: `unit_text` is the unit's own text (starting at its `{`), which is re-read on demand.
  // Errors are rare, so this costs nothing on the happy path; the text must outlive the index.
  static LineIndex fromJsonText(std::string_view unit_text, int unit_line);

  int unitLine() const { return unit_line_; }
  int lineOf(std::string_view path) const;

 private:
  int unit_line_ = 0;
  LinesByPath lines_;
  std::string_view json_text_;
  bool is_json_ = false;
};

// 1-based line of byte `offset` in `text`.
int lineAt(std::string_view text, std::size_t offset);

}  // namespace peergate::validation::detail
