#include "peergate/validation/cluster_state.h"

#include <memory>

#include <catch2/catch.hpp>

#include "fixtures.h"
#include "peergate/validation/analyze.h"

namespace peergate::validation {
namespace {

std::vector<std::string> names(const std::vector<const DestinationRule*>& rules) {
  std::vector<std::string> out;
  for (const DestinationRule* rule : rules) out.push_back(rule->meta.name);
  return out;
}

TEST_CASE("destination rules are found by the namespaces their host or home may name",
          "[cluster_state]") {
  Inputs in;
  in.destination_rules = {
      testing::destinationRule("foo", "local-short", "httpbin", "ISTIO_MUTUAL"),
      testing::destinationRule("bar", "to-foo-fqdn", "httpbin.foo.svc.cluster.local", "DISABLE"),
      testing::destinationRule("istio-system", "all-local", "*.local", "ISTIO_MUTUAL"),
      testing::destinationRule("bar", "to-baz", "web.baz", "DISABLE"),
      testing::destinationRule("bar", "in-bar", "web", "DISABLE"),
  };
  const ClusterState state(std::move(in));
  CHECK(names(state.destinationRulesReaching({"foo"})) ==
        std::vector<std::string>{"local-short", "to-foo-fqdn", "all-local"});
  CHECK(names(state.destinationRulesReaching({"bar"})) ==
        std::vector<std::string>{"to-foo-fqdn", "all-local", "to-baz", "in-bar"});
  CHECK(names(state.destinationRulesReaching({"baz", "foo"})) ==
        std::vector<std::string>{"local-short", "to-foo-fqdn", "all-local", "to-baz"});
  CHECK(names(state.destinationRulesReaching({"elsewhere"})) ==
        std::vector<std::string>{"all-local"});
}

// A cluster with a little of everything a finding can name: a namespace without proxies under
// STRICT, a Deployment with its running pods, a service, a DestinationRule to it.
Inputs mixedCluster() {
  Inputs in;
  in.namespaces = {testing::ns("foo", {{"istio-injection", "enabled"}}), testing::ns("legacy"),
                   testing::ns("istio-system")};
  const testing::WorkloadSpec httpbin{"foo", "httpbin", {{"app", "httpbin"}}, {8000}};
  in.workloads = {testing::workload(httpbin),
                  testing::deploymentPod(httpbin, "5c7f", "abcde", true),
                  testing::deploymentPod(httpbin, "5c7f", "fghij", false),
                  testing::workload({"legacy", "billing", {{"app", "billing"}}, {8080}})};
  in.services = {testing::service("foo", "httpbin", {{"app", "httpbin"}}, {{80, 8000}})};
  in.peer_authentications = {
      testing::policy({"legacy", "default", Mode::Strict}),
      testing::policy({"foo", "default", Mode::Strict}),
      testing::policy({"foo", "httpbin", Mode::Disable, Labels{{"app", "httpbin"}}})};
  in.destination_rules = {
      testing::destinationRule("legacy", "to-httpbin", "httpbin.foo.svc.cluster.local", "DISABLE")};
  return in;
}

std::vector<std::string> describe(const Analysis& analysis) {
  std::vector<std::string> out;
  for (const Finding& finding : analysis.findings)
    out.push_back(finding.key() + " " + finding.message);
  return out;
}

TEST_CASE("a state over another state's objects analyzes like the state that owns them",
          "[cluster_state]") {
  const auto owner = std::make_shared<const ClusterState>(mixedCluster());
  const ClusterState selection(owner->objects(), owner->mesh(), {owner});
  REQUIRE(selection.workloads() == owner->workloads());
  for (const Workload* workload : owner->workloads()) {
    CHECK(selection.instancesOf(*workload) == owner->instancesOf(*workload));
    CHECK(selection.dataplane(*workload).reason == owner->dataplane(*workload).reason);
  }
  CHECK(selection.namespaceNames() == owner->namespaceNames());
  const std::vector<std::string> findings = describe(analyze(*owner));
  CHECK_FALSE(findings.empty());
  CHECK(describe(analyze(selection)) == findings);
  CHECK(selection.inputs().workloads.empty());  // it owns nothing
}

TEST_CASE("a selection's destination rules come back in its order, wherever they live",
          "[cluster_state]") {
  // The second rule lives at a lower address than the first: order must not follow addresses.
  const auto later = std::make_shared<const DestinationRule>(
      testing::destinationRule("bar", "second", "httpbin.foo", "DISABLE"));
  const auto earlier = std::make_shared<const DestinationRule>(
      testing::destinationRule("foo", "first", "httpbin", "ISTIO_MUTUAL"));
  ObjectSelection objects;
  objects.destination_rules = {earlier.get(), later.get()};
  const ClusterState forward(objects, MeshConfig{}, {earlier, later});
  CHECK(names(forward.destinationRulesReaching({"foo"})) ==
        std::vector<std::string>{"first", "second"});
  std::swap(objects.destination_rules[0], objects.destination_rules[1]);
  const ClusterState backward(objects, MeshConfig{}, {earlier, later});
  CHECK(names(backward.destinationRulesReaching({"foo"})) ==
        std::vector<std::string>{"second", "first"});
}

}  // namespace
}  // namespace peergate::validation

namespace peergate::validation {
namespace {

TEST_CASE("unmeshed clients are counted cluster-wide and named in namespace order",
          "[cluster_state]") {
  Inputs in;
  in.namespaces = {testing::ns("a-team"), testing::ns("mesh", {{"istio-injection", "enabled"}}),
                   testing::ns("zeta"), testing::ns("a")};
  in.workloads = {
      testing::workload({.ns = "zeta", .name = "web"}),
      testing::workload({.ns = "a-team", .name = "worker"}),
      testing::workload({.ns = "a-team", .name = "api"}),
      testing::workload({.ns = "mesh", .name = "meshed"}),
      testing::workload({.ns = "a", .name = "tool"}),
      testing::workload({.ns = "istio-system", .name = "istiod"}),  // system: never a client
  };
  const auto whole = std::make_shared<const ClusterState>(std::move(in));
  const UnmeshedClients all = whole->unmeshedClients(10);
  CHECK(all.count == 4);
  CHECK(all.first == std::vector<std::string>{"a/tool", "a-team/api", "a-team/worker", "zeta/web"});
  CHECK(whole->unmeshedClients(2).first == std::vector<std::string>{"a/tool", "a-team/api"});
  CHECK(whole->unmeshedClients(2).count == 4);

  SECTION("a selection of two namespaces answers for the rest from the whole state") {
    ObjectSelection selected;  // as a review selects them: the Namespace and what is in it
    for (const char* name : {"mesh", "zeta"})
      selected.namespaces.push_back(whole->findNamespace(name));
    for (const Workload* w : whole->workloadsIn("mesh")) selected.workloads.push_back(w);
    for (const Workload* w : whole->workloadsIn("zeta")) selected.workloads.push_back(w);
    ClusterState part(selected, whole->mesh(), {whole});
    CHECK(part.unmeshedClients(10).count == 1);  // alone, it sees zeta/web only
    part.standFor(*whole, {"mesh", "zeta", "istio-system"});
    const UnmeshedClients seen = part.unmeshedClients(10);
    CHECK(seen.count == 4);
    CHECK(seen.first == all.first);
    CHECK(part.unmeshedClients(3).first ==
          std::vector<std::string>{"a/tool", "a-team/api", "a-team/worker"});
  }
  SECTION("a namespace in scope is counted from the selection, not from the whole state") {
    ObjectSelection selected;  // zeta is in scope but its workload is gone from the selection
    ClusterState part(selected, whole->mesh(), {whole});
    part.standFor(*whole, {"zeta", "istio-system"});
    CHECK(part.unmeshedClients(10).count == 3);
    CHECK(part.unmeshedClients(10).first ==
          std::vector<std::string>{"a/tool", "a-team/api", "a-team/worker"});
  }
}

}  // namespace
}  // namespace peergate::validation
