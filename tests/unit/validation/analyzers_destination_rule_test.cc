// Tests of the DestinationRule analyzers: client TLS DISABLE/SIMPLE towards STRICT servers
// (PG0110) and ISTIO_MUTUAL towards servers without a proxy (PG0111).

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.h"
#include "peergate/validation/analyze.h"

namespace peergate::validation {
namespace {

using testing::Checked;
using testing::describeFindings;
using testing::destinationRule;
using testing::findingsWith;
using testing::policy;

const Labels kNone;
const Labels kEnabled{{"istio-injection", "enabled"}};
const Labels kAmbient{{"istio.io/dataplane-mode", "ambient"}};
const Labels kHttpbinLabels{{"app", "httpbin"}};
const ObjectRef kRule{"DestinationRule", "foo", "httpbin"};

// Namespace foo (labels given) with httpbin listening on 8080 behind Service port 8000, and the
// namespace-wide policy foo/default in `mode`. Namespace bar is there for cross-namespace hosts.
Inputs httpbinBehindService(const Labels& ns_labels, Mode mode, bool proxy = false) {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", ns_labels));
  inputs.namespaces.push_back(testing::ns("bar", kEnabled));
  inputs.workloads.push_back(testing::workload(
      {.ns = "foo", .name = "httpbin", .labels = kHttpbinLabels, .ports = {8080}, .proxy = proxy}));
  inputs.workloads.push_back(
      testing::workload({.ns = "bar", .name = "curl", .labels = {{"app", "curl"}}}));
  inputs.services.push_back(testing::service("foo", "httpbin", kHttpbinLabels, {{8000, 8080}}));
  inputs.peer_authentications.push_back(policy({.ns = "foo", .name = "default", .mode = mode}));
  return inputs;
}

// ---- PG0110 -------------------------------------------------------------------------------

TEST_CASE("flags a DestinationRule that sends plaintext or simple TLS to a STRICT workload",
          "[analyze]") {
  auto host = GENERATE(as<std::string>{}, "httpbin", "httpbin.foo", "httpbin.foo.svc.cluster.local",
                       "*.foo.svc.cluster.local");
  auto tls = GENERATE(as<std::string>{}, "DISABLE", "SIMPLE");
  CAPTURE(host, tls);
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(destinationRule("foo", "httpbin", host, tls));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == kRule);
  CHECK(found[0].path == "spec.trafficPolicy.tls.mode");
  CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin:8080") && Catch::Contains(host));
}

TEST_CASE("resolves a DestinationRule host in another namespace by its namespace part",
          "[analyze]") {
  auto [host, fires] = GENERATE(table<std::string, bool>({
      {"httpbin.foo.svc.cluster.local", true},
      {"httpbin.foo", true},
      {"*.foo.svc.cluster.local", true},
      {"httpbin", false},  // short names are relative to the rule's namespace (bar)
      {"*.bar.svc.cluster.local", false},
  }));
  CAPTURE(host);
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(destinationRule("bar", "httpbin", host, "DISABLE"));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .size() == (fires ? 1u : 0u));
}

TEST_CASE("matches a mesh-wide wildcard host in the root namespace against every Service",
          "[analyze]") {
  auto host = GENERATE(as<std::string>{}, "*", "*.cluster.local", "*.svc.cluster.local");
  CAPTURE(host);
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(destinationRule("istio-system", "default", host, "DISABLE"));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == ObjectRef{"DestinationRule", "istio-system", "default"});
  CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin:8080"));
}

TEST_CASE("matches the wildcard host *.local of Istio's mesh-wide DISABLE rule", "[analyze]") {
  // Istio's own docs disable client mTLS mesh-wide with host "*.local" in istio-system.
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(
      destinationRule("istio-system", "default", "*.local", "DISABLE"));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .size() == 1);
}

TEST_CASE("does not flag a DestinationRule whose TLS matches what the server accepts",
          "[analyze]") {
  auto [name, host, tls, mode] = GENERATE(table<std::string, std::string, std::string, Mode>({
      {"external host", "httpbin.org", "DISABLE", Mode::Strict},
      {"external host with a subdomain", "www.httpbin.org", "SIMPLE", Mode::Strict},
      {"ISTIO_MUTUAL to STRICT", "httpbin", "ISTIO_MUTUAL", Mode::Strict},
      {"no tls mode (auto mTLS)", "httpbin", "", Mode::Strict},
      {"DISABLE to PERMISSIVE", "httpbin", "DISABLE", Mode::Permissive},
      {"SIMPLE to DISABLE", "httpbin", "SIMPLE", Mode::Disable},
      {"a host with no Service", "reviews", "DISABLE", Mode::Strict},
  }));
  CAPTURE(name);
  Inputs inputs = httpbinBehindService(kEnabled, mode);
  inputs.destination_rules.push_back(destinationRule("foo", "httpbin", host, tls));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRuleMutualWithoutProxy)
            .empty());
}

TEST_CASE("lets portLevelSettings override the top-level tls mode for their Service port",
          "[analyze]") {
  auto [name, top, port_level, fires, path] =
      GENERATE(table<std::string, std::string, std::string, bool, std::string>({
          {"port DISABLE under top-level ISTIO_MUTUAL", "ISTIO_MUTUAL", "DISABLE", true,
           "spec.trafficPolicy.portLevelSettings[0].tls.mode"},
          {"port SIMPLE with no top-level tls", "", "SIMPLE", true,
           "spec.trafficPolicy.portLevelSettings[0].tls.mode"},
          {"port ISTIO_MUTUAL under top-level DISABLE", "DISABLE", "ISTIO_MUTUAL", false, ""},
      }));
  CAPTURE(name);
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(testing::withPortTls(
      destinationRule("foo", "httpbin", "httpbin.foo.svc.cluster.local", top), 8000, port_level));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].path == path);
    CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin:8080"));
  }
}

TEST_CASE("keeps the top-level tls mode for Service ports a portLevelSettings entry does not name",
          "[analyze]") {
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Strict);
  inputs.destination_rules.push_back(testing::withPortTls(
      destinationRule("foo", "httpbin", "httpbin", "DISABLE"), 9999, "ISTIO_MUTUAL"));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].path == "spec.trafficPolicy.tls.mode");
}

TEST_CASE("judges a DestinationRule by the mode of the container port the Service targets",
          "[analyze]") {
  auto [name, workload_mode, port_mode, fires] = GENERATE(table<std::string, Mode, Mode, bool>({
      {"target port STRICT in a PERMISSIVE workload", Mode::Permissive, Mode::Strict, true},
      {"target port PERMISSIVE in a STRICT workload", Mode::Strict, Mode::Permissive, false},
  }));
  CAPTURE(name);
  Inputs inputs = httpbinBehindService(kEnabled, Mode::Unset);
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = workload_mode,
                                                .selector = kHttpbinLabels,
                                                .ports = {{8080, port_mode}}}));
  inputs.destination_rules.push_back(destinationRule("foo", "httpbin", "httpbin", "DISABLE"));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .size() == (fires ? 1u : 0u));
}

TEST_CASE("leaves a STRICT workload without a proxy to PG0102 rather than PG0110", "[analyze]") {
  // Nothing enforces STRICT there, so the DestinationRule's plaintext still gets through.
  Inputs inputs = httpbinBehindService(kNone, Mode::Strict);
  inputs.destination_rules.push_back(destinationRule("foo", "httpbin", "httpbin", "DISABLE"));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy).size() == 1);
}

// ---- PG0111 -------------------------------------------------------------------------------

TEST_CASE("flags ISTIO_MUTUAL towards a workload without a proxy", "[analyze]") {
  Inputs inputs = httpbinBehindService(kNone, Mode::Permissive);
  inputs.destination_rules.push_back(
      destinationRule("foo", "httpbin", "httpbin.foo.svc.cluster.local", "ISTIO_MUTUAL"));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRuleMutualWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == kRule);
  CHECK(found[0].path == "spec.trafficPolicy.tls.mode");
  CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin") && Catch::Contains("no sidecar"));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRulePlaintextToStrict)
            .empty());
}

TEST_CASE("flags ISTIO_MUTUAL given only in portLevelSettings towards a workload without a proxy",
          "[analyze]") {
  Inputs inputs = httpbinBehindService(kNone, Mode::Permissive);
  inputs.destination_rules.push_back(
      testing::withPortTls(destinationRule("foo", "httpbin", "httpbin", ""), 8000, "ISTIO_MUTUAL"));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DestinationRuleMutualWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].path == "spec.trafficPolicy.portLevelSettings[0].tls.mode");
}

TEST_CASE("does not flag ISTIO_MUTUAL towards a workload that has a proxy or is ambient",
          "[analyze]") {
  auto [name, ns_labels, proxy] = GENERATE(table<std::string, Labels, bool>({
      {"proxy container", kNone, true},
      {"injection-enabled namespace", kEnabled, false},
      {"ambient namespace", kAmbient, false},
  }));
  CAPTURE(name);
  Inputs inputs = httpbinBehindService(ns_labels, Mode::Permissive, proxy);
  inputs.destination_rules.push_back(destinationRule("foo", "httpbin", "httpbin", "ISTIO_MUTUAL"));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DestinationRuleMutualWithoutProxy)
            .empty());
}

}  // namespace
}  // namespace peergate::validation
