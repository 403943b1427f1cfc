#include "decode_encoding.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "decode_lines.h"

namespace peergate::validation::detail {
namespace {

// Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::optional<std::size_t> firstInvalidUtf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    if (i + 8 <= size) {
      std::uint64_t chunk = 0;
      std::memcpy(&chunk, bytes + i, sizeof chunk);
      if ((chunk & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
      code_point = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code_point = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      code_point = lead & 0x07u;
    } else {
      return i;
    }
    if (i + length > size) return i;
    for (std::size_t k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
      code_point = (code_point << 6) | (bytes[i + k] & 0x3Fu);
    }
    if (length == 3 && (code_point < 0x800 || (code_point >= 0xD800 && code_point <= 0xDFFF))) {
      return i;
    }
    if (length == 4 && (code_point < 0x10000 || code_point > 0x10FFFF)) return i;
    i += length;
  }
  return std::nullopt;
}

std::string position(std::string_view text, std::size_t offset) {
  std::size_t column = offset + 1;
  if (offset > 0) {
    const std::size_t newline = text.rfind('\n', offset - 1);
    if (newline != std::string_view::npos) column = offset - newline;
  }
  return "column " + std::to_string(column);
}

Error encodingError(std::string code, int line, std::string message) {
  Error error;
  error.code = std::move(code);
  error.line = line;
  error.message = std::move(message);
  return error;
}

}  // namespace

std::optional<Error> checkTextEncoding(std::string_view text) {
  const auto starts = [&](std::string_view prefix) { return text.starts_with(prefix); };
  using std::string_view_literals::operator""sv;
  if (starts("\xFF\xFE\x00\x00"sv) || starts("\x00\x00\xFE\xFF"sv)) {
    return encodingError("input.encoding", 1,
                         "the input is UTF-32 text; save it as UTF-8 "
                         "(e.g. iconv -f UTF-32 -t UTF-8)");
  }
  if (starts("\xFF\xFE"sv) || starts("\xFE\xFF"sv)) {
    return encodingError("input.encoding", 1,
                         "the input is UTF-16 text (as a PowerShell redirect writes it); save it "
                         "as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8, or Out-File -Encoding utf8)");
  }
  if (const void* nul = std::memchr(text.data(), '\0', text.size())) {
    const auto offset = static_cast<std::size_t>(static_cast<const char*>(nul) - text.data());
    return encodingError("input.binary", lineAt(text, offset),
                         "the input contains a NUL byte (" + position(text, offset) +
                             "): it is binary data, not YAML or JSON text");
  }
  if (const auto bad = firstInvalidUtf8(text)) {
    constexpr char kHex[] = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(text[*bad]);
    std::string shown = "0x";
    shown += kHex[byte >> 4];
    shown += kHex[byte & 0xF];
    return encodingError("input.encoding", lineAt(text, *bad),
                         "invalid UTF-8 (byte " + shown + " at " + position(text, *bad) +
                             "); YAML and JSON inputs must be UTF-8 text");
  }
  return std::nullopt;
}

std::string_view withoutByteOrderMark(std::string_view text) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  return text.starts_with(kBom) ? text.substr(kBom.size()) : text;
}

}  // namespace peergate::validation::detail
