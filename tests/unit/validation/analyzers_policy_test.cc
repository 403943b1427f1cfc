// Tests of the analyzers over the policy set: mesh-wide DISABLE (PG0101), duplicate scopes
// (PG0103, PG0104), overlapping workload policies (PG0105), selectors in the root namespace
// (PG0106) or matching nothing (PG0107), and portLevelMtls keys (PG0108, PG0109).

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
using testing::findingsWith;
using testing::policy;
using testing::WorkloadSpec;

const Labels kEnabled{{"istio-injection", "enabled"}};
const Labels kHttpbinLabels{{"app", "httpbin"}};

// Namespace foo, injected, with httpbin (8080, 9090) and curl (no ports).
Inputs fooWithWorkloads() {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("istio-system"));
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(
      {.ns = "foo", .name = "httpbin", .labels = kHttpbinLabels, .ports = {8080, 9090}}));
  inputs.workloads.push_back(
      testing::workload({.ns = "foo", .name = "curl", .labels = {{"app", "curl"}}}));
  return inputs;
}

ObjectRef paRef(std::string ns, std::string name) {
  return {"PeerAuthentication", std::move(ns), std::move(name)};
}

// ---- PG0101 -------------------------------------------------------------------------------

TEST_CASE("flags a mesh-wide DISABLE as an error naming the workloads it turns plaintext",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  // bar overrides the mesh with its own policy, so its workloads keep mTLS.
  inputs.namespaces.push_back(testing::ns("bar", kEnabled));
  inputs.workloads.push_back(testing::workload({.ns = "bar", .name = "reviews"}));
  inputs.peer_authentications.push_back(
      policy({.ns = "bar", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Disable}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::MeshWideDisable);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("istio-system", "default"));
  CHECK(found[0].path == "spec.mtls.mode");
  CHECK_THAT(found[0].message, Catch::Contains("istio-system/default") &&
                                   Catch::Contains("foo/httpbin") && Catch::Contains("foo/curl"));
  CHECK_THAT(found[0].message, !Catch::Contains("bar/reviews"));
  CHECK_FALSE(found[0].hint.empty());
}

TEST_CASE("flags DISABLE as mesh-wide only for a selector-less policy in the root namespace",
          "[analyze]") {
  auto [name, root, ns, mode, selector, fires] =
      GENERATE(table<std::string, std::string, std::string, Mode, std::optional<Labels>, bool>({
          {"mesh-wide DISABLE", "istio-system", "istio-system", Mode::Disable, std::nullopt, true},
          {"mesh-wide DISABLE with an empty selector", "istio-system", "istio-system",
           Mode::Disable, Labels{}, true},
          {"mesh-wide DISABLE in a custom root namespace", "mesh-root", "mesh-root", Mode::Disable,
           std::nullopt, true},
          {"namespace DISABLE", "istio-system", "foo", Mode::Disable, std::nullopt, false},
          {"DISABLE in istio-system when the root namespace is another", "mesh-root",
           "istio-system", Mode::Disable, std::nullopt, false},
          {"mesh-wide PERMISSIVE", "istio-system", "istio-system", Mode::Permissive, std::nullopt,
           false},
          {"mesh-wide STRICT", "istio-system", "istio-system", Mode::Strict, std::nullopt, false},
          {"selector DISABLE in the root namespace (ignored at runtime)", "istio-system",
           "istio-system", Mode::Disable, kHttpbinLabels, false},
      }));
  CAPTURE(name);
  Inputs inputs = fooWithWorkloads();
  inputs.mesh.root_namespace = root;
  inputs.peer_authentications.push_back(
      policy({.ns = ns, .name = "default", .mode = mode, .selector = selector}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::MeshWideDisable).size() ==
        (fires ? 1u : 0u));
}

// ---- PG0103 / PG0104 ----------------------------------------------------------------------

TEST_CASE("flags the newer of two mesh-wide policies and names the older one that wins",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  // Name order disagrees with age: only creationTimestamp decides.
  inputs.peer_authentications.push_back(policy({.ns = "istio-system",
                                                .name = "a-newer",
                                                .mode = Mode::Permissive,
                                                .created = "2024-06-01T00:00:00Z"}));
  inputs.peer_authentications.push_back(policy({.ns = "istio-system",
                                                .name = "z-older",
                                                .mode = Mode::Strict,
                                                .created = "2024-01-01T00:00:00Z"}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::DuplicateMeshWidePolicy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("istio-system", "a-newer"));
  CHECK(found[0].path == "metadata.name");
  CHECK_THAT(found[0].message,
             Catch::Contains("istio-system/a-newer") && Catch::Contains("istio-system/z-older"));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DuplicateNamespaceWidePolicy).empty());
}

TEST_CASE("flags every namespace-wide policy but the oldest, breaking timestamp ties by name",
          "[analyze]") {
  auto [name, first, first_created, second, second_created, loser, winner] =
      GENERATE(table<std::string, std::string, std::string, std::string, std::string, std::string,
                     std::string>({
          {"older timestamp wins", "beta", "2024-01-01T00:00:00Z", "alpha", "2024-02-01T00:00:00Z",
           "alpha", "beta"},
          {"same timestamp: the first name wins", "beta", "2024-01-01T00:00:00Z", "alpha",
           "2024-01-01T00:00:00Z", "beta", "alpha"},
          {"a policy not yet created is the newest", "alpha", "", "beta", "2024-01-01T00:00:00Z",
           "alpha", "beta"},
      }));
  CAPTURE(name);
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = first, .mode = Mode::Strict, .created = first_created}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = second, .mode = Mode::Permissive, .created = second_created}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DuplicateNamespaceWidePolicy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("foo", loser));
  CHECK(found[0].path == "metadata.name");
  CHECK_THAT(found[0].message, Catch::Contains("foo/" + winner));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DuplicateMeshWidePolicy).empty());
}

TEST_CASE("counts a policy with an empty selector as namespace-wide when finding duplicates",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "default", .mode = Mode::Strict, .created = "2024-01-01T00:00:00Z"}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "empty-selector",
                                                .mode = Mode::Permissive,
                                                .selector = Labels{},
                                                .created = "2024-02-01T00:00:00Z"}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::DuplicateNamespaceWidePolicy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == paRef("foo", "empty-selector"));
}

TEST_CASE("does not flag one namespace-wide policy per namespace as duplicates", "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.namespaces.push_back(testing::ns("bar", kEnabled));
  inputs.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(
      policy({.ns = "bar", .name = "default", .mode = Mode::Permissive}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "httpbin", .mode = Mode::Strict, .selector = kHttpbinLabels}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DuplicateMeshWidePolicy).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::DuplicateNamespaceWidePolicy).empty());
}

// ---- PG0105 -------------------------------------------------------------------------------

TEST_CASE("flags the newer of two workload policies selecting one workload, naming the winner",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.workloads[0].pod_labels["version"] = "v1";
  inputs.peer_authentications.push_back(
      policy({.ns = "foo",
              .name = "httpbin-v1",
              .mode = Mode::Permissive,
              .selector = Labels{{"app", "httpbin"}, {"version", "v1"}},
              .created = "2024-03-01T00:00:00Z"}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin-strict",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .created = "2024-01-01T00:00:00Z"}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::OverlappingWorkloadPolicies);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("foo", "httpbin-v1"));
  CHECK(found[0].path == "spec.selector");
  CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin-strict") &&
                                   Catch::Contains("foo/httpbin") && Catch::Contains("is ignored"));
}

TEST_CASE("breaks a timestamp tie between overlapping workload policies by name", "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  for (const char* name : {"zeta", "alpha"}) {
    inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                  .name = name,
                                                  .mode = Mode::Strict,
                                                  .selector = kHttpbinLabels,
                                                  .created = "2024-01-01T00:00:00Z"}));
  }
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::OverlappingWorkloadPolicies);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == paRef("foo", "zeta"));
  CHECK_THAT(found[0].message, Catch::Contains("foo/alpha"));
}

TEST_CASE("does not flag workload policies whose selectors select different workloads",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "httpbin", .mode = Mode::Strict, .selector = kHttpbinLabels}));
  inputs.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "curl", .mode = Mode::Strict, .selector = Labels{{"app", "curl"}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::OverlappingWorkloadPolicies).empty());
}

// ---- PG0106 -------------------------------------------------------------------------------

TEST_CASE("warns that a selector policy in the root namespace is ignored at runtime", "[analyze]") {
  auto [name, root, ns, fires] = GENERATE(table<std::string, std::string, std::string, bool>({
      {"selector policy in istio-system", "istio-system", "istio-system", true},
      {"selector policy in a custom root namespace", "mesh-root", "mesh-root", true},
      {"selector policy in istio-system when the root is another namespace", "mesh-root",
       "istio-system", false},
      {"selector policy in an application namespace", "istio-system", "foo", false},
  }));
  CAPTURE(name);
  Inputs inputs = fooWithWorkloads();
  inputs.mesh.root_namespace = root;
  inputs.workloads.push_back(
      testing::workload({.ns = ns, .name = "httpbin-" + ns, .labels = kHttpbinLabels}));
  inputs.peer_authentications.push_back(
      policy({.ns = ns, .name = "httpbin", .mode = Mode::Strict, .selector = kHttpbinLabels}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::SelectorPolicyInRootNamespace);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].severity == Severity::Warning);
    CHECK(found[0].object == paRef(ns, "httpbin"));
    CHECK(found[0].path == "spec.selector");
    CHECK_THAT(found[0].message, Catch::Contains("root namespace " + root));
  }
}

TEST_CASE("does not warn about a selector-less policy in the root namespace", "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "empty", .mode = Mode::Strict, .selector = Labels{}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(
      findingsWith(checked.analysis.findings, FindingCode::SelectorPolicyInRootNamespace).empty());
}

// ---- PG0107 -------------------------------------------------------------------------------

TEST_CASE("warns about a selector that matches no workload in the policy's namespace",
          "[analyze]") {
  auto [name, selector, fires] = GENERATE(table<std::string, Labels, bool>({
      {"no workload has the label", {{"app", "nope"}}, true},
      {"a workload has only some of the labels", {{"app", "httpbin"}, {"version", "v2"}}, true},
      {"a workload in another namespace has the label", {{"app", "reviews"}}, true},
      {"a workload has the label", kHttpbinLabels, false},
  }));
  CAPTURE(name);
  Inputs inputs = fooWithWorkloads();
  inputs.namespaces.push_back(testing::ns("bar", kEnabled));
  inputs.workloads.push_back(
      testing::workload({.ns = "bar", .name = "reviews", .labels = {{"app", "reviews"}}}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "target", .mode = Mode::Strict, .selector = selector}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::SelectorMatchesNoWorkload);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].severity == Severity::Warning);
    CHECK(found[0].object == paRef("foo", "target"));
    CHECK(found[0].path == "spec.selector.matchLabels");
    CHECK_THAT(found[0].message,
               Catch::Contains("app=" + selector.at("app")) && Catch::Contains("namespace foo"));
  }
}

TEST_CASE("skips selector checks with a note when the input has no workloads at all", "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "target",
                                                .mode = Mode::Strict,
                                                .selector = Labels{{"app", "nope"}},
                                                .ports = {{8081, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::SelectorMatchesNoWorkload).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).empty());
  CHECK_FALSE(checked.analysis.notes.empty());
}

TEST_CASE("adds no note when workloads are present", "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  CHECK(checked.analysis.notes.empty());
}

// ---- PG0108 / PG0109 ----------------------------------------------------------------------

TEST_CASE("warns about portLevelMtls on a port no selected container exposes, listing them",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{8081, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Warning);
  CHECK(found[0].object == paRef("foo", "httpbin"));
  CHECK(found[0].path == "spec.portLevelMtls.8081");
  CHECK_THAT(found[0].message, Catch::Contains("8081") && Catch::Contains("8080, 9090"));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort).empty());
}

TEST_CASE("warns about an unknown port, not a Service port, when no Service port has that number",
          "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.services.push_back(testing::service("foo", "httpbin", kHttpbinLabels, {{80, 8080}}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{8081, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).size() == 1);
}

TEST_CASE("accepts portLevelMtls keyed by a container port", "[analyze]") {
  auto port = GENERATE(as<int64_t>{}, 8080, 9090);
  CAPTURE(port);
  Inputs inputs = fooWithWorkloads();
  inputs.services.push_back(testing::service("foo", "httpbin", kHttpbinLabels, {{80, 8080}}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{port, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort).empty());
}

TEST_CASE("warns about portLevelMtls keyed by a Service port and names the container port",
          "[analyze]") {
  auto [name, by_name] = GENERATE(table<std::string, bool>({
      {"targetPort as a number", false},
      {"targetPort as a container port name", true},
  }));
  CAPTURE(name);
  Inputs inputs = fooWithWorkloads();
  Service svc = testing::service("foo", "httpbin", kHttpbinLabels, {{80, 8080}});
  if (by_name) {
    inputs.workloads[0].spec.ports[0].name = "http";
    svc.ports[0].target_port_number.reset();
    svc.ports[0].target_port_name = "http";
  }
  inputs.services.push_back(std::move(svc));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{80, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Warning);
  CHECK(found[0].object == paRef("foo", "httpbin"));
  CHECK(found[0].path == "spec.portLevelMtls.80");
  CHECK_THAT(found[0].message, Catch::Contains("80") && Catch::Contains("container port 8080"));
  CHECK_THAT(found[0].hint, Catch::Contains("8080"));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).empty());
}

TEST_CASE("treats a Service port without targetPort as forwarding to the same port", "[analyze]") {
  // Kubernetes defaults targetPort to port, so key 80 is simply a port the container lacks.
  Inputs inputs = fooWithWorkloads();
  Service svc = testing::service("foo", "httpbin", kHttpbinLabels, {{80, 80}});
  svc.ports[0].target_port_number.reset();  // targetPort omitted
  inputs.services.push_back(std::move(svc));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{80, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).size() == 1);
}

TEST_CASE("ignores a Service that does not select the policy's workloads for PG0109", "[analyze]") {
  Inputs inputs = fooWithWorkloads();
  inputs.services.push_back(testing::service("foo", "curl", {{"app", "curl"}}, {{80, 8080}}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Strict,
                                                .selector = kHttpbinLabels,
                                                .ports = {{80, Mode::Permissive}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUsesServicePort).empty());
  CHECK(findingsWith(checked.analysis.findings, FindingCode::PortLevelMtlsUnknownPort).size() == 1);
}

}  // namespace
}  // namespace peergate::validation
