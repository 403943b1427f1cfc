#include <string>
#include <tuple>

#include <catch2/catch.hpp>

#include "peergate/webhook/config.h"

namespace peergate::webhook {
namespace {

using Catch::Contains;
using validation::FindingCode;

TEST_CASE("a config file sets actions, staleness and injection", "[config]") {
  const auto parsed = parseWebhookConfig(R"(actions:
  PG0201: deny
  SelectorMatchesNoWorkload: off
maxStalenessSeconds: 600
failOpenWhenStale: true
injection: {proxyImage: registry.example.com/peergate:0.1.0}
)");
  INFO((parsed ? std::string() : parsed.error().describe()));
  REQUIRE(parsed);
  const WebhookConfig& config = parsed.value();
  CHECK(config.actions.at(FindingCode::SecurityDowngrade) == FindingAction::Deny);
  CHECK(config.actions.at(FindingCode::SelectorMatchesNoWorkload) == FindingAction::Off);
  CHECK(config.max_staleness_seconds == 600);
  CHECK(config.fail_open_when_stale);
  CHECK(config.injection.proxy_image == "registry.example.com/peergate:0.1.0");
}

TEST_CASE("invalid config values are errors naming the key path and the fix", "[config]") {
  using Row = std::tuple<std::string, std::string, std::string, int>;
  auto [yaml, path, message, line] = GENERATE(table<std::string, std::string, std::string, int>({
      Row{"maxStalenessSeconds: -5", "maxStalenessSeconds", "must be at least 1 (seconds), got -5",
          1},
      Row{"maxStalenessSeconds: 0", "maxStalenessSeconds", "must be at least 1", 1},
      Row{"maxStalenessSeconds: 5m", "maxStalenessSeconds",
          "expected a whole number of seconds (e.g. 300), got \"5m\"", 1},
      Row{"maxStalenessSeconds: 99999999999", "maxStalenessSeconds",
          "expected a whole number of seconds", 1},
      Row{"maxStalenessSeconds: [1]", "maxStalenessSeconds", "got a list", 1},
      Row{"failOpenWhenStale: maybe", "failOpenWhenStale", "expected true or false, got \"maybe\"",
          1},
      Row{"injection:\n  proxyImage: {a: b}", "injection.proxyImage",
          "expected a string, got a map", 2},
      Row{"injection: image", "injection", "expected a map, got \"image\"", 1},
      Row{"actions:\n  PG0999: warn", "actions.PG0999",
          "unknown finding code \"PG0999\"; did you mean", 2},
      Row{"actions:\n  PG102: warn", "actions.PG102", "did you mean PG0102 (StrictWithoutProxy)?",
          2},
      Row{"actions:\n  StrictWithoutProxi: warn", "actions.StrictWithoutProxi",
          "did you mean PG0102 (StrictWithoutProxy)?", 2},
      Row{"actions:\n  PG0102: block", "actions.PG0102",
          "expected deny, warn or off, got \"block\"", 2},
      Row{"actions:\n  PG0102: Warn", "actions.PG0102", "actions are lower case: warn", 2},
      Row{"actions:\n  PG0102:", "actions.PG0102", "expected deny, warn or off, got no value", 2},
      Row{"actions:\n  PG0102: warn\n  StrictWithoutProxy: deny", "actions.StrictWithoutProxy",
          "PG0102 is already set by actions.PG0102", 3},
      Row{"actions:\n  PG0001: 'off'", "actions.PG0001", "cannot be configured; remove this entry",
          2},
      Row{"actions: [PG0102]", "actions", "expected a map of finding code to action", 1},
      Row{"maxStalenessSecond: 300", "maxStalenessSecond", "unknown key (known: actions,", 1},
  }));
  CAPTURE(yaml);
  const auto parsed = parseWebhookConfig(yaml);
  REQUIRE_FALSE(parsed);
  const validation::Error& error = parsed.error();
  CHECK(error.path == path);
  CHECK_THAT(error.message, Contains(message));
  CHECK(error.line == line);
  CHECK(error.describe().find("document") == std::string::npos);  // one document, no index
  CHECK(error.describe().find("bad conversion") == std::string::npos);
}

TEST_CASE("turning an Error finding off is valid but produces a startup warning", "[config]") {
  const auto parsed = parseWebhookConfig("actions:\n  PG0101: 'off'\n  PG0201: 'off'\n");
  REQUIRE(parsed);
  CHECK(parsed.value().actions.at(FindingCode::MeshWideDisable) == FindingAction::Off);
  const std::vector<std::string> warnings = configWarnings(parsed.value());
  REQUIRE(warnings.size() == 1);  // PG0201 is a Warning: turning it off is unremarkable
  CHECK_THAT(warnings[0], Contains("actions.PG0101") && Contains("MeshWideDisable") &&
                              Contains("Error finding turned off") && Contains("use warn"));
  CHECK(configWarnings(WebhookConfig{}).empty());
}

}  // namespace
}  // namespace peergate::webhook
