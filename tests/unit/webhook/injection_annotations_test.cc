// Tests of the injection annotations: Istio's validate.go rules and messages, and their parsing.

#include "../../../webhook/src/injection_annotations.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace peergate::webhook {
namespace {

std::string onlyError(const std::string& name, const std::string& value) {
  const std::vector<std::string> errors = injectionAnnotationErrors({{name, value}});
  REQUIRE(errors.size() == 1);
  return errors.front();
}

TEST_CASE("accepts the annotation values Istio accepts", "[inject][annotations]") {
  const auto [name, value] = GENERATE(table<std::string, std::string>({
      {"sidecar.istio.io/interceptionMode", "REDIRECT"},
      {"sidecar.istio.io/interceptionMode", "TPROXY"},
      {"sidecar.istio.io/interceptionMode", "NONE"},
      {"status.sidecar.istio.io/port", "15020"},
      {"status.sidecar.istio.io/port", " 15021 "},
      {"traffic.sidecar.istio.io/includeInboundPorts", "*"},
      {"traffic.sidecar.istio.io/includeInboundPorts", ""},
      {"traffic.sidecar.istio.io/includeInboundPorts", "80, 443"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "9090,9091"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", ""},
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "5432"},
      {"traffic.sidecar.istio.io/includeOutboundIPRanges", "*"},
      {"traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,172.16.0.0/12"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "169.254.169.254/32"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "fd00::/64"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", ""},
      {"readiness.status.sidecar.istio.io/periodSeconds", "10"},
      {"prometheus.istio.io/merge-metrics", "false"},
      {"sidecar.istio.io/unrelated", "anything"},
  }));
  CAPTURE(name, value);
  CHECK(injectionAnnotationErrors({{name, value}}).empty());
}

TEST_CASE("rejects invalid annotations with Istio's message", "[inject][annotations]") {
  const auto [name, value, message] = GENERATE(table<std::string, std::string, std::string>({
      {"sidecar.istio.io/interceptionMode", "redirect",
       "invalid value 'redirect' for annotation 'sidecar.istio.io/interceptionMode': "
       "interceptionMode invalid, use REDIRECT,TPROXY,NONE: redirect"},
      {"status.sidecar.istio.io/port", "abc",
       "invalid value 'abc' for annotation 'status.sidecar.istio.io/port': statusPort invalid: "
       "failed parsing port 'abc': strconv.ParseUint: parsing \"abc\": invalid syntax"},
      {"status.sidecar.istio.io/port", "70000",
       "invalid value '70000' for annotation 'status.sidecar.istio.io/port': statusPort invalid: "
       "failed parsing port '70000': strconv.ParseUint: parsing \"70000\": value out of range"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "80,abc",
       "invalid value '80,abc' for annotation 'traffic.sidecar.istio.io/excludeInboundPorts': "
       "excludeInboundPorts invalid: failed parsing port 'abc': failed parsing port 'abc': "
       "strconv.ParseUint: parsing \"abc\": invalid syntax"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "80, 9x",
       "invalid value '80, 9x' for annotation 'traffic.sidecar.istio.io/excludeInboundPorts': "
       "excludeInboundPorts invalid: failed parsing port ' 9x': failed parsing port ' 9x': "
       "strconv.ParseUint: parsing \"9x\": invalid syntax"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "*",
       "invalid value '*' for annotation 'traffic.sidecar.istio.io/excludeInboundPorts': "
       "excludeInboundPorts invalid: failed parsing port '*': failed parsing port '*': "
       "strconv.ParseUint: parsing \"*\": invalid syntax"},
      {"traffic.sidecar.istio.io/includeInboundPorts", "80,*",
       "invalid value '80,*' for annotation 'traffic.sidecar.istio.io/includeInboundPorts': "
       "includeInboundPorts invalid: failed parsing port '*': failed parsing port '*': "
       "strconv.ParseUint: parsing \"*\": invalid syntax"},
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "65536",
       "invalid value '65536' for annotation 'traffic.sidecar.istio.io/excludeOutboundPorts': "
       "excludeOutboundPorts invalid: failed parsing port '65536': failed parsing port '65536': "
       "strconv.ParseUint: parsing \"65536\": value out of range"},
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "-1",
       "invalid value '-1' for annotation 'traffic.sidecar.istio.io/excludeOutboundPorts': "
       "excludeOutboundPorts invalid: failed parsing port '-1': failed parsing port '-1': "
       "strconv.ParseUint: parsing \"-1\": invalid syntax"},
      {"traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/8,bad",
       "invalid value '10.0.0.0/8,bad' for annotation "
       "'traffic.sidecar.istio.io/includeOutboundIPRanges': includeIPRanges invalid: failed "
       "parsing cidr 'bad': netip.ParsePrefix(\"bad\"): no '/'"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.1",
       "invalid value '10.0.0.1' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr '10.0.0.1': netip.ParsePrefix(\"10.0.0.1\"): no '/'"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.256/8",
       "invalid value '10.0.0.256/8' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr '10.0.0.256/8': netip.ParsePrefix(\"10.0.0.256/8\"): "
       "ParseAddr(\"10.0.0.256\"): IPv4 field has value >255"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0/8",
       "invalid value '10.0/8' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr '10.0/8': netip.ParsePrefix(\"10.0/8\"): ParseAddr(\"10.0\"): IPv4 address "
       "too short"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/33",
       "invalid value '10.0.0.0/33' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr '10.0.0.0/33': netip.ParsePrefix(\"10.0.0.0/33\"): prefix length out of "
       "range"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/08",
       "invalid value '10.0.0.0/08' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr '10.0.0.0/08': netip.ParsePrefix(\"10.0.0.0/08\"): bad bits after slash: "
       "\"08\""},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/8, 10.1.0.0/16",
       "invalid value '10.0.0.0/8, 10.1.0.0/16' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr ' 10.1.0.0/16': netip.ParsePrefix(\" 10.1.0.0/16\"): "
       "ParseAddr(\" 10.1.0.0\"): unexpected character (at \" 10.1.0.0\")"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "abc/8",
       "invalid value 'abc/8' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr 'abc/8': netip.ParsePrefix(\"abc/8\"): ParseAddr(\"abc\"): unable to parse "
       "IP"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "fd00::/129",
       "invalid value 'fd00::/129' for annotation "
       "'traffic.sidecar.istio.io/excludeOutboundIPRanges': excludeIPRanges invalid: failed "
       "parsing cidr 'fd00::/129': netip.ParsePrefix(\"fd00::/129\"): prefix length out of "
       "range"},
      {"readiness.status.sidecar.istio.io/periodSeconds", "ten",
       "invalid value 'ten' for annotation 'readiness.status.sidecar.istio.io/periodSeconds': "
       "strconv.ParseUint: parsing \"ten\": invalid syntax"},
      {"prometheus.istio.io/merge-metrics", "maybe",
       "invalid value 'maybe' for annotation 'prometheus.istio.io/merge-metrics': "
       "strconv.ParseBool: parsing \"maybe\": invalid syntax"},
  }));
  CAPTURE(name, value);
  CHECK(onlyError(name, value) == message);
}

TEST_CASE("reports every invalid annotation, in name order, as one error",
          "[inject][annotations]") {
  const validation::Labels annotations = {
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "x"},
      {"sidecar.istio.io/interceptionMode", "BOGUS"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", "8080"},
  };
  const std::vector<std::string> errors = injectionAnnotationErrors(annotations);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].find("'sidecar.istio.io/interceptionMode'") != std::string::npos);
  CHECK(errors[1].find("'traffic.sidecar.istio.io/excludeOutboundPorts'") != std::string::npos);

  const validation::Result<InjectionAnnotations> read = readInjectionAnnotations(annotations);
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().code == "inject.annotation");
  CHECK(read.error().path == "metadata.annotations");
  CHECK(read.error().message == errors[0] + "; " + errors[1]);
}

TEST_CASE("parses valid annotations into what the sidecar needs", "[inject][annotations]") {
  const validation::Result<InjectionAnnotations> read = readInjectionAnnotations({
      {"sidecar.istio.io/interceptionMode", "NONE"},
      {"status.sidecar.istio.io/port", "15099"},
      {"traffic.sidecar.istio.io/includeInboundPorts", "80, 443"},
      {"traffic.sidecar.istio.io/excludeInboundPorts", " 9090 ,9091"},
      {"traffic.sidecar.istio.io/excludeOutboundPorts", "5432"},
      {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "169.254.169.254/32,10.0.0.0/8"},
      {"readiness.status.sidecar.istio.io/initialDelaySeconds", "7"},
  });
  REQUIRE(read.ok());
  const InjectionAnnotations& parsed = read.value();
  CHECK(parsed.interception_mode == "NONE");
  CHECK(parsed.status_port == 15099);
  REQUIRE(parsed.include_inbound_ports);
  CHECK(*parsed.include_inbound_ports == std::vector<int>{80, 443});
  CHECK(parsed.exclude_inbound_ports == std::vector<int>{9090, 9091});
  CHECK(parsed.exclude_outbound_ports == std::vector<int>{5432});
  CHECK(parsed.exclude_outbound_cidrs ==
        std::vector<std::string>{"169.254.169.254/32", "10.0.0.0/8"});
  CHECK(parsed.readiness_initial_delay_seconds == 7u);
  CHECK_FALSE(parsed.readiness_period_seconds);
}

TEST_CASE("includeInboundPorts '*' means every port, '' means none", "[inject][annotations]") {
  const auto all =
      readInjectionAnnotations({{"traffic.sidecar.istio.io/includeInboundPorts", "*"}});
  REQUIRE(all.ok());
  CHECK_FALSE(all.value().include_inbound_ports);
  const auto none =
      readInjectionAnnotations({{"traffic.sidecar.istio.io/includeInboundPorts", ""}});
  REQUIRE(none.ok());
  REQUIRE(none.value().include_inbound_ports);
  CHECK(none.value().include_inbound_ports->empty());
}

}  // namespace
}  // namespace peergate::webhook
