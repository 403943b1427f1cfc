#include "decode_yaml_scalar.h"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <system_error>

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";

bool isOneOf(std::string_view text, std::initializer_list<std::string_view> options) {
  for (const std::string_view option : options) {
    if (text == option) return true;
  }
  return false;
}

bool allOf(std::string_view text, std::string_view allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string_view::npos;
}

std::optional<Json> parseInteger(std::string_view text) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.starts_with("0x")) {
    base = 16;
    digits.remove_prefix(2);
    if (!allOf(digits, "0123456789abcdefABCDEF")) return std::nullopt;
  } else if (digits.starts_with("0o")) {
    base = 8;
    digits.remove_prefix(2);
    if (!allOf(digits, "01234567")) return std::nullopt;
  } else if (!allOf(digits, "0123456789")) {
    return std::nullopt;
  }
  std::uint64_t magnitude = 0;
  const auto [end, error] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (error == std::errc::result_out_of_range) {
    // Too large for 64 bits: keep the magnitude approximately, as JSON parsers do.
    double approximate = 0;
    for (const char c : digits) {
      const int digit = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
      approximate = approximate * base + digit;
    }
    return Json(negative ? -approximate : approximate);
  }
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (!negative) return Json(magnitude);
  constexpr auto kMinMagnitude =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1;
  if (magnitude == kMinMagnitude) return Json(std::numeric_limits<std::int64_t>::min());
  if (magnitude > kMinMagnitude) return Json(-static_cast<double>(magnitude));
  return Json(-static_cast<std::int64_t>(magnitude));
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool looksLikeFloat(std::string_view text) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  const std::size_t integer_digits = digits();
  std::size_t fraction_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    fraction_digits = digits();
  }
  if (integer_digits == 0 && fraction_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == text.size();
}

std::optional<Json> parseFloat(std::string_view text) {
  std::string_view body = text;
  const bool negative = body.starts_with('-');
  if (body.starts_with('-') || body.starts_with('+')) body.remove_prefix(1);
  if (isOneOf(body, {".inf", ".Inf", ".INF"})) {
    const double infinity = std::numeric_limits<double>::infinity();
    return Json(negative ? -infinity : infinity);
  }
  if (isOneOf(text, {".nan", ".NaN", ".NAN"})) {
    return Json(std::numeric_limits<double>::quiet_NaN());
  }
  if (!looksLikeFloat(text)) return std::nullopt;
  std::string_view number = text.starts_with('+') ? text.substr(1) : text;
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error == std::errc::result_out_of_range) {
    return Json(negative ? -std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::infinity());
  }
  if (error != std::errc() || end != number.data() + number.size()) return std::nullopt;
  return Json(value);
}

std::optional<Json> parseBool(std::string_view text) {
  if (isOneOf(text, {"true", "True", "TRUE"})) return Json(true);
  if (isOneOf(text, {"false", "False", "FALSE"})) return Json(false);
  return std::nullopt;
}

bool isNull(std::string_view text) { return isOneOf(text, {"", "~", "null", "Null", "NULL"}); }

Json resolvePlain(const std::string& text) {
  if (isNull(text)) return nullptr;
  if (auto boolean = parseBool(text)) return *boolean;
  if (auto integer = parseInteger(text)) return *integer;
  if (auto number = parseFloat(text)) return *number;
  return text;
}

}  // namespace

Json yamlScalarValue(std::string_view tag, const std::string& text) {
  if (tag == "?") return resolvePlain(text);
  if (!tag.starts_with(kCoreTagPrefix)) return text;  // "!" (quoted) and custom tags
  const std::string_view type = tag.substr(kCoreTagPrefix.size());
  std::optional<Json> typed;
  if (type == "null" && isNull(text)) typed = Json(nullptr);
  if (type == "bool") typed = parseBool(text);
  if (type == "int") typed = parseInteger(text);
  if (type == "float") typed = parseFloat(text);
  return typed ? std::move(*typed) : Json(text);
}

}  // namespace peergate::validation::detail
