#include "peergate/validation/ip_address.h"

#include <catch2/catch.hpp>

namespace peergate::validation {
namespace {

TEST_CASE("an address has one canonical text, whichever way it is spelled", "[ip]") {
  const auto [text, canonical] = GENERATE(table<std::string, std::string>({
      {"10.0.0.5", "10.0.0.5"},
      {"fd00::5", "fd00::5"},
      {"fd00:0::5", "fd00::5"},
      {"FD00:0000:0:0:0:0:0:0005", "fd00::5"},
      {"::1", "::1"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"::ffff:10.0.0.5", "10.0.0.5"},
      {"::FFFF:a00:5", "10.0.0.5"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
  }));
  CAPTURE(text);
  CHECK(canonicalIp(text) == canonical);
}

TEST_CASE("what is not a bare address has no canonical text", "[ip]") {
  const std::string text =
      GENERATE("", "10.0.0", "10.0.0.256", "010.0.0.5", "fd00::zz", "fe80::1%eth0", "10.0.0.0/8",
               "fd00::/64", "localhost", " 10.0.0.5");
  CAPTURE(text);
  CHECK_FALSE(canonicalIp(text).has_value());
}

}  // namespace
}  // namespace peergate::validation
