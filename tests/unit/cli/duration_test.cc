// Durations for --ttl: the forms people write, and errors that say how to write one.

#include "peergate/cli/duration.h"

#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

using std::chrono::seconds;

TEST_CASE("parses lifetimes in s, m, h and d, alone or combined", "[certs][duration]") {
  const auto [text, expected] = GENERATE(table<std::string, long long>({
      {"45s", 45},
      {"90m", 5400},
      {"24h", 86400},
      {"8760h", 31'536'000},
      {"87600h", 315'360'000},
      {"30d", 2'592'000},
      {"1h30m", 5400},
      {"1d12h", 129'600},
      {"36500d", 3'153'600'000},
  }));
  CAPTURE(text);
  const validation::Result<seconds> parsed = parseDuration(text);
  REQUIRE(parsed.ok());
  CHECK(parsed.value().count() == expected);
}

TEST_CASE("refuses durations it cannot read, saying how to write one", "[certs][duration]") {
  const auto [text, problem] = GENERATE(table<std::string, std::string>({
      {"", "it is empty"},
      {"24", "the last number has no unit"},
      {"1h30", "the last number has no unit"},
      {"h", "expected a number at 'h'"},
      {"-1h", "expected a number at '-'"},
      {"1.5h", "unknown unit '.'"},
      {"24 h", "unknown unit ' '"},
      {"2w", "unknown unit 'w'"},
      {"24H", "unknown unit 'H'"},
      {"0h", "it must be longer than zero"},
      {"36501d", "it is longer than 100 years"},
      {"99999999999999999999h", "it is longer than 100 years"},
  }));
  CAPTURE(text);
  const validation::Result<seconds> parsed = parseDuration(text);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == "duration");
  CHECK(parsed.error().message == "invalid duration \"" + text + "\": " + problem +
                                      "; write it as a number and a unit s, m, h or d, e.g. "
                                      "24h, 90m, 30d");
}

TEST_CASE("formats durations as parseDuration reads them back", "[certs][duration]") {
  CHECK(formatDuration(seconds(0)) == "0s");
  CHECK(formatDuration(seconds(45)) == "45s");
  CHECK(formatDuration(seconds(86400)) == "24h");
  CHECK(formatDuration(seconds(5400)) == "1h30m");
  CHECK(formatDuration(seconds(172'799)) == "47h59m59s");
  CHECK(parseDuration(formatDuration(seconds(172'799))).value() == seconds(172'799));
}

}  // namespace
}  // namespace peergate::cli
