#include "plain_json.h"

#include <cstdint>
#include <string>
#include <utility>

namespace peergate::webhook {
namespace {

using nlohmann::json;

// More digits than this could overflow 64 bits: left to nlohmann.
constexpr std::size_t kMaxIntegerDigits = 18;

// A recursive-descent reader over the subset; every method returns false as soon as the text
// leaves it, and the reader is then abandoned.
class PlainJsonReader {
 public:
  PlainJsonReader(std::string_view text, std::size_t max_depth)
      : text_(text), max_depth_(max_depth) {}

  bool document(json& out) {
    skipSpace();
    if (!value(out, 0)) return false;
    skipSpace();
    return pos_ == text_.size();
  }

 private:
  bool value(json& out, std::size_t depth) {
    if (pos_ == text_.size()) return false;
    switch (text_[pos_]) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = std::move(text);
        return true;
      }
      case 't':
        return literal("true", true, out);
      case 'f':
        return literal("false", false, out);
      case 'n':
        return literal("null", nullptr, out);
      default:
        return integer(out);
    }
  }

  bool object(json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++pos_;  // '{'
    out = json::object();
    skipSpace();
    if (consume('}')) return true;
    do {
      skipSpace();
      std::string key;
      if (!string(key)) return false;
      skipSpace();
      if (!consume(':')) return false;
      skipSpace();
      // As nlohmann's parser: a repeated key keeps the last value.
      if (!value(out[std::move(key)], depth)) return false;
      skipSpace();
    } while (consume(','));
    return consume('}');
  }

  bool array(json& out, std::size_t depth) {
    if (depth > max_depth_) return false;
    ++pos_;  // '['
    out = json::array();
    skipSpace();
    if (consume(']')) return true;
    do {
      skipSpace();
      json element;
      if (!value(element, depth)) return false;
      out.push_back(std::move(element));
      skipSpace();
    } while (consume(','));
    return consume(']');
  }

  // Printable ASCII and the one-character escapes; anything else is left to nlohmann.
  bool string(std::string& out) {
    if (!consume('"')) return false;
    while (pos_ < text_.size()) {
      const std::size_t run = plainRun();
      out.append(text_.substr(pos_, run));
      pos_ += run;
      if (pos_ == text_.size()) return false;
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\' || pos_ == text_.size() || !unescape(text_[pos_++], out)) return false;
    }
    return false;
  }

  // How many characters from pos_ are printable ASCII needing no escape.
  std::size_t plainRun() const {
    std::size_t end = pos_;
    while (end < text_.size()) {
      const char c = text_[end];
      if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') break;
      ++end;
    }
    return end - pos_;
  }

  static bool unescape(char escaped, std::string& out) {
    switch (escaped) {
      case '"':
      case '\\':
      case '/':
        out += escaped;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      default:
        return false;  // \uXXXX and invalid escapes
    }
  }

  // -?(0|[1-9][0-9]*) without fraction or exponent; nlohmann reads a non-negative one as
  // unsigned and a negative one as signed.
  bool integer(json& out) {
    const bool negative = consume('-');
    const std::size_t first = pos_;
    std::uint64_t magnitude = 0;
    while (pos_ < text_.size() && isDigit(text_[pos_])) {
      magnitude = magnitude * 10 + static_cast<std::uint64_t>(text_[pos_++] - '0');
    }
    const std::size_t digits = pos_ - first;
    if (digits == 0 || digits > kMaxIntegerDigits) return false;
    if (digits > 1 && text_[first] == '0') return false;
    if (pos_ < text_.size() && (text_[pos_] == '.' || text_[pos_] == 'e' || text_[pos_] == 'E')) {
      return false;
    }
    if (negative) {
      out = -static_cast<std::int64_t>(magnitude);
    } else {
      out = magnitude;
    }
    return true;
  }

  template <typename T>
  bool literal(std::string_view word, T value, json& out) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    out = value;
    return true;
  }

  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  bool consume(char expected) {
    if (pos_ == text_.size() || text_[pos_] != expected) return false;
    ++pos_;
    return true;
  }

  void skipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<nlohmann::json> parsePlainJson(std::string_view text, std::size_t max_depth) {
  json out;
  if (!PlainJsonReader(text, max_depth).document(out)) return std::nullopt;
  return out;
}

}  // namespace peergate::webhook
