#include "peergate/cli/duration.h"

#include <cstdint>
#include <optional>

namespace peergate::cli {
namespace {

using std::chrono::seconds;

constexpr std::int64_t kMaxSeconds = std::int64_t{100} * 365 * 24 * 3600;
constexpr std::string_view kHowTo =
    "write it as a number and a unit s, m, h or d, e.g. 24h, 90m, 30d";

validation::Error durationError(std::string_view text, const std::string& problem) {
  validation::Error error;
  error.code = "duration";
  error.message =
      "invalid duration \"" + std::string(text) + "\": " + problem + "; " + std::string(kHowTo);
  return error;
}

std::optional<std::int64_t> unitSeconds(char unit) {
  switch (unit) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    default:
      return std::nullopt;
  }
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

validation::Result<seconds> parseDuration(std::string_view text) {
  if (text.empty()) return durationError(text, "it is empty");
  std::int64_t total = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    if (!isDigit(text[at])) {
      return durationError(text, std::string("expected a number at '") + text[at] + "'");
    }
    std::int64_t number = 0;
    for (; at < text.size() && isDigit(text[at]); ++at) {
      number = number * 10 + (text[at] - '0');
      if (number > kMaxSeconds) return durationError(text, "it is longer than 100 years");
    }
    if (at == text.size()) return durationError(text, "the last number has no unit");
    const std::optional<std::int64_t> unit = unitSeconds(text[at]);
    if (!unit) return durationError(text, std::string("unknown unit '") + text[at] + "'");
    ++at;
    if (number > (kMaxSeconds - total) / *unit) {
      return durationError(text, "it is longer than 100 years");
    }
    total += number * *unit;
  }
  if (total == 0) return durationError(text, "it must be longer than zero");
  return seconds(total);
}

std::string formatDuration(seconds duration) {
  std::int64_t left = duration.count();
  if (left == 0) return "0s";
  std::string text;
  for (const auto& [unit, size] : {std::pair{'h', 3600}, {'m', 60}, {'s', 1}}) {
    if (left >= size) {
      text += std::to_string(left / size) + unit;
      left %= size;
    }
  }
  return text;
}

}  // namespace peergate::cli
