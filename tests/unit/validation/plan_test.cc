// Tests of plan(before, after): the per-workload and per-port mode changes a policy change makes,
// and the findings it introduces or clears, as the admission gate and `peergate plan` show them.

#include "peergate/validation/plan.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.h"

namespace peergate::validation {
namespace {

using testing::describeFindings;
using testing::findingsWith;
using testing::policy;

const Labels kEnabled{{"istio-injection", "enabled"}};
const Labels kHttpbinLabels{{"app", "httpbin"}};
const ObjectRef kHttpbin{"Deployment", "foo", "httpbin"};
const ObjectRef kCurl{"Deployment", "foo", "curl"};

// Namespace foo, injected, with httpbin (ports 8080, 9090) and curl (no ports).
Inputs injectedFoo() {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("istio-system"));
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(
      {.ns = "foo", .name = "httpbin", .labels = kHttpbinLabels, .ports = {8080, 9090}}));
  inputs.workloads.push_back(
      testing::workload({.ns = "foo", .name = "curl", .labels = {{"app", "curl"}}}));
  return inputs;
}

Inputs with(Inputs inputs, PeerAuthentication pa) {
  inputs.peer_authentications.push_back(std::move(pa));
  return inputs;
}

// The states must outlive the plan: its after_analysis points into `after`.
struct Planned {
  Planned(Inputs before_inputs, Inputs after_inputs, const Observations* observations = nullptr)
      : before(std::move(before_inputs)),
        after(std::move(after_inputs)),
        result(plan(before, after, observations)) {}
  ClusterState before;
  ClusterState after;
  Plan result;
};

std::string describeChanges(const std::vector<ModeChange>& changes) {
  std::string out;
  for (const ModeChange& c : changes) {
    out += c.workload.namespace_name + "/" + c.workload.name + " " +
           (c.port ? std::to_string(*c.port) : std::string("*")) + " " +
           std::string(toString(c.before)) + " -> " + std::string(toString(c.after)) + " by " +
           c.decided_after.policy.namespace_name + "/" + c.decided_after.policy.name + "\n";
  }
  return out.empty() ? "(no changes)" : out;
}

const ModeChange* findChange(const Plan& p, const ObjectRef& workload,
                             std::optional<int64_t> port) {
  auto it = std::find_if(p.changes.begin(), p.changes.end(), [&](const ModeChange& c) {
    return c.workload == workload && c.port == port;
  });
  return it == p.changes.end() ? nullptr : &*it;
}

bool hasSeverity(const std::vector<Finding>& findings, Severity severity) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const Finding& f) { return f.severity == severity; });
}

TEST_CASE("shows every workload and port a new namespace STRICT policy moves to STRICT", "[plan]") {
  const Planned planned(
      injectedFoo(),
      with(injectedFoo(), policy({.ns = "foo", .name = "default", .mode = Mode::Strict})));
  const Plan& p = planned.result;
  INFO(describeChanges(p.changes));
  INFO(describeFindings(p.introduced));
  CHECK(p.changes.size() == 4);
  struct Expected {
    ObjectRef workload;
    std::optional<int64_t> port;
  };
  for (const Expected& e : {Expected{kHttpbin, std::nullopt}, Expected{kHttpbin, 8080},
                            Expected{kHttpbin, 9090}, Expected{kCurl, std::nullopt}}) {
    CAPTURE(e.workload.name, e.port.value_or(0));
    const ModeChange* change = findChange(p, e.workload, e.port);
    REQUIRE(change);
    CHECK(change->before == Mode::Permissive);
    CHECK(change->after == Mode::Strict);
    CHECK(change->decided_before.scope == Scope::MeshDefault);
    CHECK(change->decided_after.scope == Scope::Namespace);
    CHECK(change->decided_after.policy == ObjectRef{"PeerAuthentication", "foo", "default"});
  }
  CHECK_FALSE(hasSeverity(p.introduced, Severity::Error));
  CHECK(p.introduced.empty());
  CHECK_FALSE(p.refuses());
  CHECK_FALSE(p.refuses(Severity::Warning));
}

TEST_CASE("refuses a new mesh-wide DISABLE with PG0101 among the introduced findings", "[plan]") {
  const Planned planned(
      injectedFoo(),
      with(injectedFoo(),
           policy({.ns = "istio-system", .name = "default", .mode = Mode::Disable})));
  const Plan& p = planned.result;
  INFO(describeFindings(p.introduced));
  const auto disable = findingsWith(p.introduced, FindingCode::MeshWideDisable);
  REQUIRE(disable.size() == 1);
  CHECK(disable[0].object == ObjectRef{"PeerAuthentication", "istio-system", "default"});
  CHECK(p.refuses());
  const ModeChange* change = findChange(p, kHttpbin, 8080);
  REQUIRE(change);
  CHECK(change->before == Mode::Permissive);
  CHECK(change->after == Mode::Disable);
  CHECK(change->decided_after.scope == Scope::Mesh);
  // PERMISSIVE -> DISABLE is also a downgrade of each workload.
  CHECK(findingsWith(p.introduced, FindingCode::SecurityDowngrade).size() == 2);
}

TEST_CASE("warns about a downgrade when a STRICT policy is deleted, without refusing it",
          "[plan]") {
  const Inputs strict =
      with(injectedFoo(), policy({.ns = "foo", .name = "default", .mode = Mode::Strict}));
  const Planned planned(strict, injectedFoo());
  const Plan& p = planned.result;
  INFO(describeChanges(p.changes));
  INFO(describeFindings(p.introduced));
  const auto downgrades = findingsWith(p.introduced, FindingCode::SecurityDowngrade);
  REQUIRE(downgrades.size() == 2);
  const auto httpbin = std::find_if(downgrades.begin(), downgrades.end(),
                                    [](const Finding& f) { return f.object == kHttpbin; });
  REQUIRE(httpbin != downgrades.end());
  CHECK(httpbin->severity == Severity::Warning);
  CHECK_THAT(httpbin->message, Catch::Contains("foo/httpbin") &&
                                   Catch::Contains("port 8080 STRICT -> PERMISSIVE") &&
                                   Catch::Contains("port 9090 STRICT -> PERMISSIVE"));
  CHECK(p.refuses(Severity::Warning));
  CHECK_FALSE(p.refuses(Severity::Error));
  CHECK_FALSE(p.refuses());
  const ModeChange* change = findChange(p, kHttpbin, std::nullopt);
  REQUIRE(change);
  CHECK(change->before == Mode::Strict);
  CHECK(change->after == Mode::Permissive);
  CHECK(change->decided_before.policy == ObjectRef{"PeerAuthentication", "foo", "default"});
  CHECK(change->decided_after.scope == Scope::MeshDefault);
}

TEST_CASE("does not count an error that already existed before the change as introduced",
          "[plan]") {
  const Inputs before = with(injectedFoo(), policy({.ns = "istio-system",
                                                    .name = "default",
                                                    .mode = Mode::Disable,
                                                    .created = "2024-01-01T00:00:00Z"}));
  // The change raises foo from the mesh DISABLE to PERMISSIVE: an improvement.
  const Planned planned(
      before, with(before, policy({.ns = "foo", .name = "default", .mode = Mode::Permissive})));
  const Plan& p = planned.result;
  INFO(describeFindings(p.introduced));
  CHECK(findingsWith(planned.result.after_analysis.findings, FindingCode::MeshWideDisable).size() ==
        1);
  CHECK(findingsWith(p.introduced, FindingCode::MeshWideDisable).empty());
  CHECK(findingsWith(p.cleared, FindingCode::MeshWideDisable).empty());
  CHECK(p.introduced.empty());
  CHECK_FALSE(p.refuses());
  const ModeChange* change = findChange(p, kHttpbin, std::nullopt);
  REQUIRE(change);
  CHECK(change->before == Mode::Disable);
  CHECK(change->after == Mode::Permissive);
}

TEST_CASE("lists a fixed duplicate among the cleared findings", "[plan]") {
  const Inputs after = with(injectedFoo(), policy({.ns = "foo",
                                                   .name = "default",
                                                   .mode = Mode::Strict,
                                                   .created = "2024-01-01T00:00:00Z"}));
  const Inputs before = with(after, policy({.ns = "foo",
                                            .name = "extra",
                                            .mode = Mode::Permissive,
                                            .created = "2024-02-01T00:00:00Z"}));
  const Planned planned(before, after);
  const Plan& p = planned.result;
  INFO(describeFindings(p.cleared));
  const auto cleared = findingsWith(p.cleared, FindingCode::DuplicateNamespaceWidePolicy);
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].object == ObjectRef{"PeerAuthentication", "foo", "extra"});
  CHECK(p.introduced.empty());
  CHECK(p.changes.empty());
  CHECK_FALSE(p.refuses(Severity::Info));
}

TEST_CASE("never lets a new policy without creationTimestamp win over an existing one", "[plan]") {
  auto [name, ns, selector, code] =
      GENERATE(table<std::string, std::string, std::optional<Labels>, FindingCode>({
          {"mesh-wide", "istio-system", std::nullopt, FindingCode::DuplicateMeshWidePolicy},
          {"namespace-wide", "foo", std::nullopt, FindingCode::DuplicateNamespaceWidePolicy},
          {"workload", "foo", kHttpbinLabels, FindingCode::OverlappingWorkloadPolicies},
      }));
  CAPTURE(name);
  // The existing policy sorts last by name; the new one would win if names decided.
  const Inputs before = with(injectedFoo(), policy({.ns = ns,
                                                    .name = "zz-existing",
                                                    .mode = Mode::Strict,
                                                    .selector = selector,
                                                    .created = "2024-01-01T00:00:00Z"}));
  const Planned planned(
      before,
      with(before,
           policy({.ns = ns, .name = "aa-new", .mode = Mode::Disable, .selector = selector})));
  const Plan& p = planned.result;
  INFO(describeChanges(p.changes));
  INFO(describeFindings(p.introduced));
  CHECK(p.changes.empty());
  const auto found = findingsWith(p.introduced, code);
  REQUIRE(found.size() == 1);
  CHECK(found[0].object == ObjectRef{"PeerAuthentication", ns, "aa-new"});
  CHECK_THAT(found[0].message, Catch::Contains(ns + "/zz-existing"));
  CHECK(findingsWith(p.introduced, FindingCode::SecurityDowngrade).empty());
}

TEST_CASE("shows a port-level exception as a change of that port only", "[plan]") {
  const Inputs before = with(injectedFoo(), policy({.ns = "foo",
                                                    .name = "default",
                                                    .mode = Mode::Strict,
                                                    .created = "2024-01-01T00:00:00Z"}));
  const Planned planned(before, with(before, policy({.ns = "foo",
                                                     .name = "httpbin",
                                                     .selector = kHttpbinLabels,
                                                     .ports = {{9090, Mode::Permissive}}})));
  const Plan& p = planned.result;
  INFO(describeChanges(p.changes));
  REQUIRE(p.changes.size() == 1);
  const ModeChange& change = p.changes.front();
  CHECK(change.workload == kHttpbin);
  CHECK(change.port == std::optional<int64_t>(9090));
  CHECK(change.before == Mode::Strict);
  CHECK(change.after == Mode::Permissive);
  CHECK(change.decided_after.policy == ObjectRef{"PeerAuthentication", "foo", "httpbin"});
  CHECK(change.decided_after.rule == "spec.portLevelMtls.9090");
  const auto downgrades = findingsWith(p.introduced, FindingCode::SecurityDowngrade);
  REQUIRE(downgrades.size() == 1);
  CHECK(downgrades[0].object == kHttpbin);
  CHECK_THAT(downgrades[0].message, Catch::Contains("port 9090 STRICT -> PERMISSIVE"));
}

TEST_CASE("refuses STRICT when the observations show plaintext clients of that port", "[plan]") {
  Inputs inputs = injectedFoo();
  Observations observations;
  observations.entries.push_back(testing::observation("foo", "httpbin", "", 8080, "plaintext"));
  const Planned planned(
      inputs, with(inputs, policy({.ns = "foo", .name = "default", .mode = Mode::Strict})),
      &observations);
  const Plan& p = planned.result;
  INFO(describeFindings(p.introduced));
  CHECK(findingsWith(p.introduced, FindingCode::StrictWithObservedPlaintext).size() == 1);
  CHECK(p.refuses());
}

}  // namespace
}  // namespace peergate::validation
