#pragma once

#include <cstddef>
#include <iosfwd>
#include <string>
#include <vector>

namespace peergate::cli {

// A plain-text table with left-aligned columns separated by two spaces, like kubectl's.
// Widths count UTF-8 code points, so "→" takes one column.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);

  void addRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void write(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text in code points.
std::size_t displayWidth(const std::string& text);

}  // namespace peergate::cli
