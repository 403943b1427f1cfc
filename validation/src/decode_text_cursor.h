#pragma once

#include <cstddef>
#include <iterator>

namespace peergate::validation::detail {

// An input iterator over a text that publishes how far nlohmann's lexer has read, so parser
// callbacks can tell the byte offset (and from it the line) of the token just read.
class TextCursor {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TextCursor() = default;
  TextCursor(const char* position, const char** progress)
      : position_(position), progress_(progress) {}

  reference operator*() const { return *position_; }
  TextCursor& operator++() {
    ++position_;
    *progress_ = position_;
    return *this;
  }
  TextCursor operator++(int) {
    TextCursor before = *this;
    ++*this;
    return before;
  }
  bool operator==(const TextCursor& other) const { return position_ == other.position_; }

 private:
  const char* position_ = nullptr;
  const char** progress_ = nullptr;
};

}  // namespace peergate::validation::detail
