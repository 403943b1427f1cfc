#include <catch2/catch.hpp>

#include "peergate/proxy/options.h"

namespace peergate::proxy {
namespace {

TEST_CASE("parses --inbound-map LISTEN=APPPORT lists", "[proxy]") {
  std::string error;
  const auto mappings = parseInboundMap("15106=8000,0=9080", error);
  REQUIRE(mappings);
  REQUIRE(mappings->size() == 2);
  CHECK((*mappings)[0].listen_port == 15106);
  CHECK((*mappings)[0].app_port == 8000);
  CHECK((*mappings)[1].listen_port == 0);
  CHECK((*mappings)[1].app_port == 9080);
}

TEST_CASE("rejects malformed --inbound-map entries and names them", "[proxy]") {
  const std::string text = GENERATE("8000", "x=80", "1=0", "1=70000", "1=80,", "=80", "1=8 0");
  CAPTURE(text);
  std::string error;
  CHECK_FALSE(parseInboundMap(text, error));
  CHECK(error.find("bad entry") == 0);
}

TEST_CASE("parses --outbound-map LISTEN=IP:PORT lists, IPv6 in brackets", "[proxy]") {
  std::string error;
  const auto mappings = parseOutboundMap("15101=10.1.0.7:8000,0=[::1]:443", error);
  REQUIRE(mappings);
  REQUIRE(mappings->size() == 2);
  CHECK((*mappings)[0].listen_port == 15101);
  CHECK((*mappings)[0].ip == "10.1.0.7");
  CHECK((*mappings)[0].port == 8000);
  CHECK((*mappings)[1].ip == "::1");
  CHECK((*mappings)[1].port == 443);
}

TEST_CASE("rejects malformed --outbound-map entries", "[proxy]") {
  const std::string text =
      GENERATE("15101=10.1.0.7", "15101=host:80", "15101=10.1.0.7:0", "x=1.2.3.4:5", "1.2.3.4:5");
  CAPTURE(text);
  std::string error;
  CHECK_FALSE(parseOutboundMap(text, error));
  CHECK(error.find("LISTEN=IP:PORT") != std::string::npos);
}

}  // namespace
}  // namespace peergate::proxy
