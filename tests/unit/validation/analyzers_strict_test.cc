// Tests of the analyzers where STRICT meets the real dataplane: workloads without a proxy
// (PG0102), probed ports while probe rewriting is off (PG0112), observed plaintext clients
// (PG0113), and workload DISABLE inside a STRICT namespace (PG0114).

#include <optional>
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

const Labels kNone;
const Labels kEnabled{{"istio-injection", "enabled"}};
const Labels kAmbient{{"istio.io/dataplane-mode", "ambient"}};
const Labels kHttpbinLabels{{"app", "httpbin"}};

ObjectRef paRef(std::string ns, std::string name) {
  return {"PeerAuthentication", std::move(ns), std::move(name)};
}

WorkloadSpec httpbinIn(std::string ns, bool proxy = false) {
  return {.ns = std::move(ns),
          .name = "httpbin",
          .labels = kHttpbinLabels,
          .ports = {8080},
          .proxy = proxy};
}

// ---- PG0102 -------------------------------------------------------------------------------

TEST_CASE("flags STRICT on a namespace whose workload has no proxy, naming the workload",
          "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("legacy"));
  inputs.workloads.push_back(testing::workload(httpbinIn("legacy")));
  inputs.peer_authentications.push_back(
      policy({.ns = "legacy", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("legacy", "default"));
  CHECK(found[0].path == "spec.mtls.mode");
  CHECK_THAT(found[0].message, Catch::Contains("legacy/httpbin"));
  CHECK_FALSE(found[0].hint.empty());
}

TEST_CASE("flags a mesh-wide STRICT on the mesh policy for every workload without a proxy",
          "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.namespaces.push_back(testing::ns("legacy"));
  inputs.workloads.push_back(testing::workload(httpbinIn("foo")));
  inputs.workloads.push_back(testing::workload(httpbinIn("legacy")));
  inputs.workloads.push_back(testing::workload({.ns = "legacy", .name = "curl"}));
  inputs.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == paRef("istio-system", "default"));
  CHECK_THAT(found[0].message, Catch::Contains("legacy/httpbin") && Catch::Contains("legacy/curl"));
  CHECK_THAT(found[0].message, !Catch::Contains("foo/httpbin"));
}

TEST_CASE("does not flag STRICT where the workload is enforced or exempt", "[analyze]") {
  auto [name, ns_name, ns_labels, proxy, policy_ns] =
      GENERATE(table<std::string, std::string, Labels, bool, std::string>({
          {"workload has a proxy container", "legacy", kNone, true, "legacy"},
          {"injection-enabled namespace", "foo", kEnabled, false, "foo"},
          {"ambient namespace", "mesh", kAmbient, false, "mesh"},
          {"kube-system under a mesh-wide STRICT", "kube-system", kNone, false, "istio-system"},
          {"istio-system under a mesh-wide STRICT", "istio-system", kNone, false, "istio-system"},
          {"kube-public under a mesh-wide STRICT", "kube-public", kNone, false, "istio-system"},
      }));
  CAPTURE(name);
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns(ns_name, ns_labels));
  inputs.workloads.push_back(testing::workload(httpbinIn(ns_name, proxy)));
  inputs.peer_authentications.push_back(
      policy({.ns = policy_ns, .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy).empty());
}

TEST_CASE("does not flag a STRICT namespace whose no-proxy workload is excepted as PERMISSIVE",
          "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("legacy"));
  inputs.workloads.push_back(testing::workload(httpbinIn("legacy")));
  inputs.peer_authentications.push_back(
      policy({.ns = "legacy", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(policy(
      {.ns = "legacy", .name = "httpbin", .mode = Mode::Permissive, .selector = kHttpbinLabels}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy).empty());
}

TEST_CASE("flags STRICT given only on one port of a workload without a proxy", "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("legacy"));
  inputs.workloads.push_back(testing::workload(httpbinIn("legacy")));
  inputs.peer_authentications.push_back(policy({.ns = "legacy",
                                                .name = "httpbin",
                                                .mode = Mode::Permissive,
                                                .selector = kHttpbinLabels,
                                                .ports = {{8080, Mode::Strict}}}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].severity == Severity::Error);
  CHECK(found[0].object == paRef("legacy", "httpbin"));
  // spec.mtls.mode is PERMISSIVE: the STRICT nothing enforces is the port entry.
  CHECK(found[0].path == "spec.portLevelMtls.8080");
  CHECK_THAT(found[0].message, Catch::Contains("legacy/httpbin"));
}

TEST_CASE("flags STRICT on a Deployment one of whose running pods lacks the proxy, naming it",
          "[analyze]") {
  const WorkloadSpec httpbin = httpbinIn("foo");
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(httpbin));
  inputs.workloads.push_back(testing::deploymentPod(httpbin, "5d9c7b", "abcde", true));
  inputs.workloads.push_back(testing::deploymentPod(httpbin, "5d9c7b", "fghij", false));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == paRef("foo", "default"));
  CHECK_THAT(found[0].message,
             Catch::Contains("foo/httpbin") && Catch::Contains("httpbin-5d9c7b-fghij"));
}

TEST_CASE("does not flag STRICT on a Deployment whose running pods all have the proxy",
          "[analyze]") {
  const WorkloadSpec httpbin = httpbinIn("foo");
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(httpbin));
  inputs.workloads.push_back(testing::deploymentPod(httpbin, "5d9c7b", "abcde", true));
  inputs.workloads.push_back(testing::deploymentPod(httpbin, "5d9c7b", "fghij", true));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithoutProxy).empty());
}

// ---- PG0112 -------------------------------------------------------------------------------

enum class PortRule { NamespaceStrict, NamespacePermissive, PortPermissive };

TEST_CASE("warns about STRICT on a port kubelet probes while probe rewriting is off", "[analyze]") {
  auto [name, annotation, mesh_rewrite, handler, rule,
        fires] = GENERATE(table<std::string, std::string, bool, std::string, PortRule, bool>({
      {"annotation rewriteAppHTTPProbers=false, httpGet", "false", true, "httpGet",
       PortRule::NamespaceStrict, true},
      {"mesh rewrite_app_http_probes=false, httpGet", "", false, "httpGet",
       PortRule::NamespaceStrict, true},
      {"annotation false, tcpSocket", "false", true, "tcpSocket", PortRule::NamespaceStrict, true},
      {"annotation false, grpc", "false", true, "grpc", PortRule::NamespaceStrict, true},
      {"rewriting on by default", "", true, "httpGet", PortRule::NamespaceStrict, false},
      {"annotation true overrides mesh false", "true", false, "httpGet", PortRule::NamespaceStrict,
       false},
      {"exec probe", "false", true, "exec", PortRule::NamespaceStrict, false},
      {"probed port PERMISSIVE via portLevelMtls", "false", true, "httpGet",
       PortRule::PortPermissive, false},
      {"namespace PERMISSIVE", "false", true, "httpGet", PortRule::NamespacePermissive, false},
  }));
  CAPTURE(name);
  Inputs inputs;
  inputs.mesh.rewrite_app_http_probes = mesh_rewrite;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  WorkloadSpec spec = httpbinIn("foo");
  if (!annotation.empty()) spec.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = annotation;
  const std::optional<int64_t> port =
      handler == "exec" ? std::nullopt : std::optional<int64_t>(8080);
  inputs.workloads.push_back(
      testing::withProbe(testing::workload(spec), "readiness", handler, port));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo",
              .name = "default",
              .mode = rule == PortRule::NamespacePermissive ? Mode::Permissive : Mode::Strict}));
  if (rule == PortRule::PortPermissive) {
    inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                  .name = "httpbin",
                                                  .selector = kHttpbinLabels,
                                                  .ports = {{8080, Mode::Permissive}}}));
  }
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictOnProbedPort);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].severity == Severity::Warning);
    CHECK(found[0].object == ObjectRef{"Deployment", "foo", "httpbin"});
    CHECK(found[0].path == "containers[app].readinessProbe");
    CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin") && Catch::Contains("8080"));
  }
}

TEST_CASE("leaves probes of a workload without a proxy alone (nothing enforces STRICT there)",
          "[analyze]") {
  Inputs inputs;
  inputs.mesh.rewrite_app_http_probes = false;
  inputs.namespaces.push_back(testing::ns("legacy"));
  inputs.workloads.push_back(
      testing::withProbe(testing::workload(httpbinIn("legacy")), "readiness", "httpGet", 8080));
  inputs.peer_authentications.push_back(
      policy({.ns = "legacy", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictOnProbedPort).empty());
}

TEST_CASE("warns about the probe on the STRICT port only, not on a PERMISSIVE one", "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  WorkloadSpec spec = httpbinIn("foo");
  spec.ports = {8080, 9090};
  spec.annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = "false";
  Workload w = testing::withProbe(testing::workload(spec), "readiness", "httpGet", 8080);
  inputs.workloads.push_back(testing::withProbe(std::move(w), "liveness", "httpGet", 9090));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "httpbin",
                                                .mode = Mode::Permissive,
                                                .selector = kHttpbinLabels,
                                                .ports = {{9090, Mode::Strict}}}));
  const Checked checked(std::move(inputs));
  const auto found = findingsWith(checked.analysis.findings, FindingCode::StrictOnProbedPort);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == 1);
  CHECK(found[0].path == "containers[app].livenessProbe");
  CHECK_THAT(found[0].message, Catch::Contains("9090"));
}

// ---- PG0113 -------------------------------------------------------------------------------

enum class Policy { NamespaceStrict, NamespacePermissive, PortPermissive, PortStrictOnly };

TEST_CASE("flags STRICT while plaintext clients were observed on that port", "[analyze]") {
  auto [name, obs_workload, obs_pod, obs_port, security, rule, fires, path] = GENERATE(
      table<std::string, std::string, std::string, int64_t, std::string, Policy, bool, std::string>(
          {
              {"matched by workload name", "httpbin", "", 8080, "plaintext",
               Policy::NamespaceStrict, true, "spec.mtls.mode"},
              {"matched by the pod name of a folded pod", "", "httpbin-5d9c7b-abcde", 8080,
               "plaintext", Policy::NamespaceStrict, true, "spec.mtls.mode"},
              {"STRICT given by portLevelMtls", "httpbin", "", 8080, "plaintext",
               Policy::PortStrictOnly, true, "spec.portLevelMtls.8080"},
              {"the client's own TLS, passed through by PERMISSIVE", "httpbin", "", 8080,
               "tls_passthrough", Policy::NamespaceStrict, true, "spec.mtls.mode"},
              {"mTLS traffic only", "httpbin", "", 8080, "mtls", Policy::NamespaceStrict, false,
               ""},
              {"the observed port is PERMISSIVE via portLevelMtls", "httpbin", "", 8080,
               "plaintext", Policy::PortPermissive, false, ""},
              {"the namespace is PERMISSIVE", "httpbin", "", 8080, "plaintext",
               Policy::NamespacePermissive, false, ""},
              {"plaintext on a port that is not STRICT", "httpbin", "", 9090, "plaintext",
               Policy::PortStrictOnly, false, ""},
              {"a workload not in the input", "reviews", "", 8080, "plaintext",
               Policy::NamespaceStrict, false, ""},
          }));
  CAPTURE(name);
  const WorkloadSpec httpbin{.ns = "foo",
                             .name = "httpbin",
                             .labels = kHttpbinLabels,
                             .ports = {8080, 9090},
                             .proxy = true};
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(httpbin));
  inputs.workloads.push_back(testing::deploymentPod(httpbin, "5d9c7b", "abcde", true));
  inputs.workloads.push_back(
      testing::workload({.ns = "foo", .name = "curl", .labels = {{"app", "curl"}}, .proxy = true}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo",
              .name = "default",
              .mode = rule == Policy::NamespaceStrict || rule == Policy::PortPermissive
                          ? Mode::Strict
                          : Mode::Permissive}));
  if (rule == Policy::PortPermissive) {
    inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                  .name = "httpbin",
                                                  .selector = kHttpbinLabels,
                                                  .ports = {{8080, Mode::Permissive}}}));
  }
  if (rule == Policy::PortStrictOnly) {
    inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                  .name = "httpbin",
                                                  .mode = Mode::Permissive,
                                                  .selector = kHttpbinLabels,
                                                  .ports = {{8080, Mode::Strict}}}));
  }
  Observations observations;
  observations.window_end = "2026-08-02T00:00:00Z";
  observations.entries.push_back(
      testing::observation("foo", obs_workload, obs_pod, obs_port, security));
  const Checked checked(std::move(inputs), &observations);
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::StrictWithObservedPlaintext);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    const std::string deciding = rule == Policy::PortStrictOnly ? "httpbin" : "default";
    CHECK(found[0].severity == Severity::Error);
    CHECK(found[0].object == paRef("foo", deciding));
    CHECK(found[0].path == path);
    CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin:" + std::to_string(obs_port)) &&
                                     Catch::Contains("10.0.0.5") &&
                                     Catch::Contains("until 2026-08-02T00:00:00Z"));
    if (security == "tls_passthrough") {
      CHECK_THAT(found[0].message, Catch::Contains("refuses every client without mesh mTLS") &&
                                       Catch::Contains("x3 (its own TLS, not mesh mTLS)"));
    } else {
      CHECK_THAT(found[0].message, Catch::Contains("refuses plaintext, but plaintext clients"));
    }
  }
}

TEST_CASE("does not count a plaintext entry with no connections as evidence", "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(httpbinIn("foo", true)));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  Observations observations;
  observations.entries.push_back(testing::observation("foo", "httpbin", "", 8080, "plaintext", 0));
  const Checked checked(std::move(inputs), &observations);
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithObservedPlaintext).empty());
}

TEST_CASE("does not look for observed plaintext without an observations file", "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(httpbinIn("foo", true)));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Checked checked(std::move(inputs), nullptr);
  CHECK(findingsWith(checked.analysis.findings, FindingCode::StrictWithObservedPlaintext).empty());
}

// ---- PG0115 -------------------------------------------------------------------------------

TEST_CASE("warns that STRICT servers will refuse workloads without a proxy, naming both sides",
          "[analyze]") {
  auto [name, legacy_ns, legacy_proxy, with_observations, fires] =
      GENERATE(table<std::string, std::string, bool, bool, bool>({
          {"an unmeshed workload in another namespace", "legacy", false, false, true},
          {"with observations PG0113 decides instead", "legacy", false, true, false},
          {"every workload has a proxy", "legacy", true, false, false},
          {"the unmeshed workload is in kube-system", "kube-system", false, false, false},
      }));
  CAPTURE(name);
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.namespaces.push_back(testing::ns(legacy_ns));
  inputs.workloads.push_back(testing::workload(httpbinIn("foo")));
  inputs.workloads.push_back(
      testing::workload({.ns = legacy_ns, .name = "curl", .proxy = legacy_proxy}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Observations observations;
  const Checked checked(std::move(inputs), with_observations ? &observations : nullptr);
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::StrictWithUnmeshedClients);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].severity == Severity::Warning);
    CHECK(found[0].object == paRef("foo", "default"));
    CHECK(found[0].path == "spec.mtls.mode");
    CHECK_THAT(found[0].message, Catch::Contains("foo/httpbin") && Catch::Contains("legacy/curl"));
  }
}

// ---- PG0114 -------------------------------------------------------------------------------

TEST_CASE("warns about a workload DISABLE inside a STRICT namespace", "[analyze]") {
  using OptMode = std::optional<Mode>;
  auto [name, mesh_mode, ns_mode, fires] = GENERATE(table<std::string, OptMode, OptMode, bool>({
      {"namespace STRICT", std::nullopt, Mode::Strict, true},
      {"mesh STRICT, no namespace policy", Mode::Strict, std::nullopt, true},
      {"mesh STRICT, namespace UNSET inherits it", Mode::Strict, Mode::Unset, true},
      {"namespace PERMISSIVE", std::nullopt, Mode::Permissive, false},
      {"namespace DISABLE", std::nullopt, Mode::Disable, false},
      {"mesh STRICT overridden by namespace PERMISSIVE", Mode::Strict, Mode::Permissive, false},
      {"no policy above the workload", std::nullopt, std::nullopt, false},
  }));
  CAPTURE(name);
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(
      {.ns = "foo", .name = "legacy", .labels = {{"app", "legacy"}}, .ports = {8080}}));
  if (mesh_mode) {
    inputs.peer_authentications.push_back(
        policy({.ns = "istio-system", .name = "default", .mode = *mesh_mode}));
  }
  if (ns_mode) {
    inputs.peer_authentications.push_back(
        policy({.ns = "foo", .name = "default", .mode = *ns_mode}));
  }
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "legacy",
                                                .mode = Mode::Disable,
                                                .selector = Labels{{"app", "legacy"}}}));
  const Checked checked(std::move(inputs));
  const auto found =
      findingsWith(checked.analysis.findings, FindingCode::WorkloadDisableInStrictNamespace);
  INFO(describeFindings(checked.analysis.findings));
  REQUIRE(found.size() == (fires ? 1u : 0u));
  if (fires) {
    CHECK(found[0].severity == Severity::Warning);
    CHECK(found[0].object == paRef("foo", "legacy"));
    CHECK(found[0].path == "spec.mtls.mode");
    CHECK_THAT(found[0].message, Catch::Contains("foo/legacy") && Catch::Contains("foo"));
  }
}

TEST_CASE("does not warn about a workload PERMISSIVE exception in a STRICT namespace",
          "[analyze]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(
      testing::workload({.ns = "foo", .name = "legacy", .labels = {{"app", "legacy"}}}));
  inputs.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  inputs.peer_authentications.push_back(policy({.ns = "foo",
                                                .name = "legacy",
                                                .mode = Mode::Permissive,
                                                .selector = Labels{{"app", "legacy"}}}));
  const Checked checked(std::move(inputs));
  INFO(describeFindings(checked.analysis.findings));
  CHECK(findingsWith(checked.analysis.findings, FindingCode::WorkloadDisableInStrictNamespace)
            .empty());
}

}  // namespace
}  // namespace peergate::validation
