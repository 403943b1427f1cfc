#include "kube_names.h"

#include <cstdint>

namespace peergate::validation {
namespace {

constexpr std::string_view kDns1123LabelMessage =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

constexpr std::string_view kDns1123SubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

constexpr std::string_view kQualifiedNameRule =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

constexpr std::string_view kLabelValueMessage =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', "
    "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

std::string maxLengthError(std::size_t limit) {
  return "must be no more than " + std::to_string(limit) + " characters";
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool matchesDns1123Label(std::string_view text) {
  if (text.empty() || !isLowerAlnum(text.front()) || !isLowerAlnum(text.back())) return false;
  for (char c : text) {
    if (!isLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// One or more DNS-1123 labels joined by '.'.
bool matchesDns1123Subdomain(std::string_view text) {
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!matchesDns1123Label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool matchesQualifiedNamePart(std::string_view text) {
  if (text.empty() || !isAlnum(text.front()) || !isAlnum(text.back())) return false;
  for (char c : text) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Decodes one UTF-8 code point at text[i]; returns its length, or 0 when the bytes are not
// valid UTF-8 (overlong forms, surrogates and values above U+10FFFF are invalid, as in Go).
std::size_t decodeUtf8(std::string_view text, std::size_t i, std::uint32_t& code_point) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
  const std::uint8_t lead = byte(i);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1Fu;
    min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0Fu;
    min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07u;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3Fu);
  }
  if (code_point < min || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return 0;
  }
  return length;
}

void appendHex(std::string& out, std::uint32_t value, int digits) {
  constexpr std::string_view kHex = "0123456789abcdef";
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
    out += kHex[(value >> shift) & 0xFu];
  }
}

}  // namespace

std::vector<std::string> dns1123LabelErrors(std::string_view text) {
  std::vector<std::string> errors;
  if (text.size() > kDns1123LabelMaxLength)
    errors.push_back(maxLengthError(kDns1123LabelMaxLength));
  if (!matchesDns1123Label(text)) errors.emplace_back(kDns1123LabelMessage);
  return errors;
}

std::vector<std::string> dns1123SubdomainErrors(std::string_view text) {
  std::vector<std::string> errors;
  if (text.size() > kDns1123SubdomainMaxLength) {
    errors.push_back(maxLengthError(kDns1123SubdomainMaxLength));
  }
  if (!matchesDns1123Subdomain(text)) errors.emplace_back(kDns1123SubdomainMessage);
  return errors;
}

std::vector<std::string> qualifiedNameErrors(std::string_view text) {
  std::vector<std::string> errors;
  std::string_view name = text;
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    if (text.find('/', slash + 1) != std::string_view::npos) {
      errors.push_back("a qualified name " + std::string(kQualifiedNameRule) +
                       " with an optional DNS subdomain prefix and '/' (e.g. "
                       "'example.com/MyName')");
      return errors;
    }
    const std::string_view prefix = text.substr(0, slash);
    name = text.substr(slash + 1);
    if (prefix.empty()) {
      errors.emplace_back("prefix part must be non-empty");
    } else {
      for (const std::string& error : dns1123SubdomainErrors(prefix)) {
        errors.push_back("prefix part " + error);
      }
    }
  }
  if (name.empty()) {
    errors.emplace_back("name part must be non-empty");
    return errors;
  }
  if (name.size() > kQualifiedNameMaxLength) {
    errors.push_back("name part " + maxLengthError(kQualifiedNameMaxLength));
  }
  if (!matchesQualifiedNamePart(name))
    errors.push_back("name part " + std::string(kQualifiedNameRule));
  return errors;
}

std::vector<std::string> labelValueErrors(std::string_view text) {
  std::vector<std::string> errors;
  if (text.size() > kLabelValueMaxLength) errors.push_back(maxLengthError(kLabelValueMaxLength));
  if (!text.empty() && !matchesQualifiedNamePart(text)) errors.emplace_back(kLabelValueMessage);
  return errors;
}

std::size_t codePointCount(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < text.size(); ++count) {
    std::uint32_t code_point = 0;
    const std::size_t length = decodeUtf8(text, i, code_point);
    i += length == 0 ? 1 : length;
  }
  return count;
}

std::string goQuote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t code_point = 0;
    const std::size_t length = decodeUtf8(text, i, code_point);
    if (length == 0) {
      out += "\\x";
      appendHex(out, static_cast<std::uint8_t>(text[i]), 2);
      ++i;
      continue;
    }
    switch (code_point) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (code_point < 0x20 || code_point == 0x7F) {
          out += "\\x";
          appendHex(out, code_point, 2);
        } else if (code_point >= 0x80 && code_point < 0xA0) {
          out += "\\u";
          appendHex(out, code_point, 4);
        } else {
          out.append(text.substr(i, length));
        }
    }
    i += length;
  }
  out += '"';
  return out;
}

}  // namespace peergate::validation
