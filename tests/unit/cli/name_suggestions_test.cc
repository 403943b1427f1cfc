#include "peergate/cli/name_suggestions.h"

#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

TEST_CASE("edit distance counts insertions, deletions and substitutions", "[cli][suggest]") {
  const auto [a, b, distance] = GENERATE(table<std::string, std::string, std::size_t>({
      {"httpbin", "httpbin", 0},
      {"htpbin", "httpbin", 1},
      {"httpbin", "httpbim", 1},
      {"", "curl", 4},
      {"checkout", "chekcout", 2},
  }));
  CAPTURE(a, b);
  CHECK(editDistance(a, b) == distance);
}

TEST_CASE("suggests close names, closest first", "[cli][suggest]") {
  const std::vector<std::string> names = {"curl", "httpbin", "httpbin-v2", "ledger"};
  CHECK(closeNames("htpbin", names) == std::vector<std::string>{"httpbin"});
  CHECK(closeNames("httpbin", names) == std::vector<std::string>{"httpbin", "httpbin-v2"});
  CHECK(closeNames("curl-client", names) == std::vector<std::string>{"curl"});
  CHECK(closeNames("zzzzzzzz", names).empty());
}

}  // namespace
}  // namespace peergate::cli
