// Tests of decideDataplane (spec §4 webhook selection and injectRequired, §5 ambient enrolment)
// and of how ClusterState folds a controller and its running pods into one workload.

#include "peergate/validation/injection.h"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "fixtures.h"
#include "peergate/validation/cluster_state.h"

namespace peergate::validation {
namespace {

using testing::deploymentPod;
using testing::WorkloadSpec;

enum class Dataplane { None, Sidecar, Ambient };

std::string toText(Dataplane dataplane) {
  switch (dataplane) {
    case Dataplane::None:
      return "none";
    case Dataplane::Sidecar:
      return "sidecar";
    case Dataplane::Ambient:
      return "ambient";
  }
  return "?";
}

Dataplane dataplaneOf(const DataplaneDecision& decision) {
  if (decision.sidecar) return Dataplane::Sidecar;
  if (decision.ambient) return Dataplane::Ambient;
  return Dataplane::None;
}

// What the pod spec carries besides labels and annotations.
enum class Pod { Plain, HostNetwork, Live, ProxyContainer, ProxyInitContainer, LiveWithProxy };

Workload podOf(const std::string& ns, Labels labels, Labels annotations, Pod shape) {
  WorkloadSpec spec{.ns = ns, .name = "httpbin", .labels = std::move(labels)};
  spec.kind = "Pod";
  spec.annotations = std::move(annotations);
  spec.host_network = shape == Pod::HostNetwork;
  spec.live = shape == Pod::Live || shape == Pod::LiveWithProxy;
  spec.proxy = shape == Pod::ProxyContainer || shape == Pod::LiveWithProxy;
  Workload w = testing::workload(spec);
  if (shape == Pod::ProxyInitContainer) w.spec.init_containers = {"istio-init", "istio-proxy"};
  return w;
}

DataplaneDecision decide(const std::string& ns_name, const Labels& ns_labels, const Labels& labels,
                         const Labels& annotations, Pod shape, const MeshConfig& mesh = {}) {
  const Namespace ns = testing::ns(ns_name, ns_labels);
  return decideDataplane(podOf(ns_name, labels, annotations, shape), &ns, mesh);
}

const Labels kNone;
const Labels kEnabled{{"istio-injection", "enabled"}};
const Labels kAmbient{{"istio.io/dataplane-mode", "ambient"}};
const Labels kInjectTrue{{"sidecar.istio.io/inject", "true"}};
const Labels kInjectFalse{{"sidecar.istio.io/inject", "false"}};

TEST_CASE("decides sidecar, ambient or neither as Istio's webhooks and ztunnel would",
          "[injection]") {
  auto [name, ns_name, ns_labels, labels, annotations, shape, expected] =
      GENERATE(table<std::string, std::string, Labels, Labels, Labels, Pod, Dataplane>({
          // §4 webhook selection
          {"namespace istio-injection=enabled injects", "foo", kEnabled, kNone, kNone, Pod::Plain,
           Dataplane::Sidecar},
          {"istio-injection=disabled never injects, even with pod label inject=true",
           "foo",
           {{"istio-injection", "disabled"}},
           kInjectTrue,
           kNone,
           Pod::Plain,
           Dataplane::None},
          {"namespace istio.io/rev=canary injects",
           "foo",
           {{"istio.io/rev", "canary"}},
           kNone,
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"namespace istio.io/rev=default injects",
           "foo",
           {{"istio.io/rev", "default"}},
           kNone,
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"rev namespace with pod label inject=false does not inject",
           "foo",
           {{"istio.io/rev", "canary"}},
           kInjectFalse,
           kNone,
           Pod::Plain,
           Dataplane::None},
          {"unlabelled namespace with pod label inject=true injects (object webhook)", "foo", kNone,
           kInjectTrue, kNone, Pod::Plain, Dataplane::Sidecar},
          {"unlabelled namespace with pod label istio.io/rev injects (rev.object webhook)",
           "foo",
           kNone,
           {{"istio.io/rev", "canary"}},
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"unlabelled namespace with pod label inject=yes: the object webhook wants true",
           "foo",
           kNone,
           {{"sidecar.istio.io/inject", "yes"}},
           kNone,
           Pod::Plain,
           Dataplane::None},
          {"unlabelled namespace and plain pod: no webhook fires", "foo", kNone, kNone, kNone,
           Pod::Plain, Dataplane::None},
          {"pod annotation inject=true alone never fires a webhook", "foo", kNone, kNone,
           kInjectTrue, Pod::Plain, Dataplane::None},
          // §4 injectRequired
          {"enabled namespace with pod annotation inject=false opts out", "foo", kEnabled, kNone,
           kInjectFalse, Pod::Plain, Dataplane::None},
          {"enabled namespace with pod label inject=false opts out", "foo", kEnabled, kInjectFalse,
           kNone, Pod::Plain, Dataplane::None},
          {"pod label inject=true beats annotation inject=false", "foo", kEnabled, kInjectTrue,
           kInjectFalse, Pod::Plain, Dataplane::Sidecar},
          {"pod label inject=false beats annotation inject=true", "foo", kEnabled, kInjectFalse,
           kInjectTrue, Pod::Plain, Dataplane::None},
          {"an unknown inject value falls back to the default policy (enabled)",
           "foo",
           kEnabled,
           {{"sidecar.istio.io/inject", "yes"}},
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"hostNetwork pods are never injected", "foo", kEnabled, kInjectTrue, kNone,
           Pod::HostNetwork, Dataplane::None},
          {"kube-system is never injected", "kube-system", kEnabled, kInjectTrue, kNone, Pod::Plain,
           Dataplane::None},
          {"kube-public is never injected", "kube-public", kEnabled, kInjectTrue, kNone, Pod::Plain,
           Dataplane::None},
          {"kube-node-lease is never injected", "kube-node-lease", kEnabled, kInjectTrue, kNone,
           Pod::Plain, Dataplane::None},
          {"local-path-storage is never injected", "local-path-storage", kEnabled, kInjectTrue,
           kNone, Pod::Plain, Dataplane::None},
          // running pods and existing proxies
          {"a running pod without a proxy stays without one (injection is at CREATE)", "foo",
           kEnabled, kNone, kNone, Pod::Live, Dataplane::None},
          {"an existing istio-proxy container is a sidecar, whatever the labels", "foo", kNone,
           kNone, kNone, Pod::ProxyContainer, Dataplane::Sidecar},
          {"a native sidecar (istio-proxy init container) is a sidecar", "foo", kNone, kNone, kNone,
           Pod::ProxyInitContainer, Dataplane::Sidecar},
          {"a running pod with istio-proxy is a sidecar", "foo", kEnabled, kNone, kNone,
           Pod::LiveWithProxy, Dataplane::Sidecar},
          // §5 ambient
          {"ambient namespace enrols the pod", "foo", kAmbient, kNone, kNone, Pod::Plain,
           Dataplane::Ambient},
          {"ambient namespace with pod dataplane-mode=none: neither",
           "foo",
           kAmbient,
           {{"istio.io/dataplane-mode", "none"}},
           kNone,
           Pod::Plain,
           Dataplane::None},
          {"injection-enabled and ambient namespace: the sidecar wins",
           "foo",
           {{"istio-injection", "enabled"}, {"istio.io/dataplane-mode", "ambient"}},
           kNone,
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"rev and ambient namespace: the sidecar wins",
           "foo",
           {{"istio.io/rev", "canary"}, {"istio.io/dataplane-mode", "ambient"}},
           kNone,
           kNone,
           Pod::Plain,
           Dataplane::Sidecar},
          {"an existing proxy in an ambient namespace: sidecar, not ambient", "foo", kAmbient,
           kNone, kNone, Pod::ProxyContainer, Dataplane::Sidecar},
          {"pod label dataplane-mode=ambient in a plain namespace enrols it",
           "foo",
           kNone,
           {{"istio.io/dataplane-mode", "ambient"}},
           kNone,
           Pod::Plain,
           Dataplane::Ambient},
          {"a running pod in an ambient namespace is ambient", "foo", kAmbient, kNone, kNone,
           Pod::Live, Dataplane::Ambient},
          {"hostNetwork pods are never enrolled in ambient", "foo", kAmbient, kNone, kNone,
           Pod::HostNetwork, Dataplane::None},
          {"kube-system pods are never enrolled in ambient",
           "kube-system",
           kAmbient,
           {{"istio.io/dataplane-mode", "ambient"}},
           kNone,
           Pod::Plain,
           Dataplane::None},
          {"ztunnel itself is never enrolled",
           "foo",
           kAmbient,
           {{"app", "ztunnel"}},
           kNone,
           Pod::Plain,
           Dataplane::None},
      }));
  CAPTURE(name);
  const DataplaneDecision decision = decide(ns_name, ns_labels, labels, annotations, shape);
  CAPTURE(decision.reason, decision.sidecar, decision.ambient);
  CHECK_FALSE((decision.sidecar && decision.ambient));
  CHECK(toText(dataplaneOf(decision)) == toText(expected));
  CHECK_FALSE(decision.reason.empty());
}

TEST_CASE("marks a proxy already in the spec as injected now, and a future injection as not yet",
          "[injection]") {
  auto [name, shape, labels, injected_now] = GENERATE(table<std::string, Pod, Labels, bool>({
      {"istio-proxy container", Pod::ProxyContainer, kNone, true},
      {"istio-proxy native sidecar", Pod::ProxyInitContainer, kNone, true},
      {"injection will add it", Pod::Plain, kNone, false},
  }));
  CAPTURE(name);
  const DataplaneDecision decision = decide("foo", kEnabled, labels, kNone, shape);
  CHECK(decision.sidecar);
  CHECK(decision.injected_now == injected_now);
}

TEST_CASE("recognises peergate's own proxy container like istio-proxy", "[injection]") {
  Workload w = podOf("foo", kNone, kNone, Pod::Plain);
  w.spec.containers.push_back("peergate-proxy");
  const Namespace ns = testing::ns("foo");
  const DataplaneDecision decision = decideDataplane(w, &ns, MeshConfig{});
  CHECK(decision.sidecar);
  CHECK(decision.injected_now);
}

TEST_CASE("explains why a running pod in an injected namespace has no sidecar", "[injection]") {
  const DataplaneDecision decision = decide("foo", kEnabled, kNone, kNone, Pod::Live);
  CHECK_FALSE(decision.sidecar);
  CHECK_THAT(decision.reason, Catch::Contains("proxy"));
}

TEST_CASE("treats a namespace missing from the input as unlabelled", "[injection]") {
  auto [name, labels, expected] = GENERATE(table<std::string, Labels, Dataplane>({
      {"plain pod", kNone, Dataplane::None},
      {"pod label inject=true", kInjectTrue, Dataplane::Sidecar},
      {"pod label dataplane-mode=ambient",
       {{"istio.io/dataplane-mode", "ambient"}},
       Dataplane::Ambient},
  }));
  CAPTURE(name);
  const DataplaneDecision decision =
      decideDataplane(podOf("foo", labels, kNone, Pod::Plain), nullptr, MeshConfig{});
  CAPTURE(decision.reason);
  CHECK(toText(dataplaneOf(decision)) == toText(expected));
}

TEST_CASE("enableNamespacesByDefault injects unlabelled namespaces except system ones",
          "[injection]") {
  MeshConfig mesh;
  mesh.enable_namespaces_by_default = true;
  auto [name, ns_name, ns_labels, labels, annotations,
        expected] = GENERATE(table<std::string, std::string, Labels, Labels, Labels, Dataplane>({
      {"unlabelled namespace, plain pod", "foo", kNone, kNone, kNone, Dataplane::Sidecar},
      {"pod annotation inject=false opts out", "foo", kNone, kNone, kInjectFalse, Dataplane::None},
      {"pod label inject=false opts out", "foo", kNone, kInjectFalse, kNone, Dataplane::None},
      {"istio-injection=disabled still wins",
       "foo",
       {{"istio-injection", "disabled"}},
       kNone,
       kNone,
       Dataplane::None},
      {"kube-system stays uninjected", "kube-system", kNone, kNone, kNone, Dataplane::None},
      {"local-path-storage stays uninjected", "local-path-storage", kNone, kNone, kNone,
       Dataplane::None},
  }));
  CAPTURE(name);
  const DataplaneDecision decision =
      decide(ns_name, ns_labels, labels, annotations, Pod::Plain, mesh);
  CAPTURE(decision.reason);
  CHECK(toText(dataplaneOf(decision)) == toText(expected));
}

TEST_CASE("enableNamespacesByDefault is off unless the mesh config says so", "[injection]") {
  const DataplaneDecision decision = decide("foo", kNone, kNone, kNone, Pod::Plain);
  CHECK_FALSE(decision.sidecar);
}

TEST_CASE("autoInject disabled injects only pods that explicitly ask for it", "[injection]") {
  MeshConfig mesh;
  mesh.auto_inject_policy = "disabled";
  auto [name, ns_labels, labels, annotations, expected] =
      GENERATE(table<std::string, Labels, Labels, Labels, Dataplane>({
          {"enabled namespace, plain pod", kEnabled, kNone, kNone, Dataplane::None},
          {"enabled namespace, pod label inject=true", kEnabled, kInjectTrue, kNone,
           Dataplane::Sidecar},
          {"enabled namespace, pod annotation inject=true (injectRequired reads it)", kEnabled,
           kNone, kInjectTrue, Dataplane::Sidecar},
          {"rev namespace, plain pod", {{"istio.io/rev", "canary"}}, kNone, kNone, Dataplane::None},
          {"unlabelled namespace, pod label inject=true", kNone, kInjectTrue, kNone,
           Dataplane::Sidecar},
          {"unlabelled namespace, pod annotation inject=true (no webhook fires)", kNone, kNone,
           kInjectTrue, Dataplane::None},
      }));
  CAPTURE(name);
  const DataplaneDecision decision =
      decide("foo", ns_labels, labels, annotations, Pod::Plain, mesh);
  CAPTURE(decision.reason);
  CHECK(toText(dataplaneOf(decision)) == toText(expected));
}

TEST_CASE("an autoInject policy other than enabled or disabled never injects", "[injection]") {
  MeshConfig mesh;
  mesh.auto_inject_policy = "off";
  auto [name, ns_labels, labels] = GENERATE(table<std::string, Labels, Labels>({
      {"enabled namespace, plain pod", kEnabled, kNone},
      {"enabled namespace, pod label inject=true", kEnabled, kInjectTrue},
      {"unlabelled namespace, pod label inject=true", kNone, kInjectTrue},
  }));
  CAPTURE(name);
  const DataplaneDecision decision = decide("foo", ns_labels, labels, kNone, Pod::Plain, mesh);
  CAPTURE(decision.reason);
  CHECK_FALSE(decision.sidecar);
}

TEST_CASE("an ambient namespace enrols a pod whose dataplane-mode label is anything but none",
          "[injection]") {
  const DataplaneDecision decision =
      decide("foo", kAmbient, {{"istio.io/dataplane-mode", "sidecar"}}, kNone, Pod::Plain);
  CAPTURE(decision.reason);
  CHECK(decision.ambient);
  CHECK_FALSE(decision.sidecar);
}

// --- ClusterState folding -------------------------------------------------------------------

const WorkloadSpec kHttpbin{
    .ns = "foo", .name = "httpbin", .labels = {{"app", "httpbin"}}, .ports = {8080}};

Inputs deploymentWithPods(std::vector<Workload> pods) {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(testing::workload(kHttpbin));
  for (Workload& pod : pods) inputs.workloads.push_back(std::move(pod));
  return inputs;
}

TEST_CASE("folds a Deployment's running pods into one workload", "[injection]") {
  const ClusterState state(deploymentWithPods({deploymentPod(kHttpbin, "5d9c7b", "abcde", true),
                                               deploymentPod(kHttpbin, "5d9c7b", "fghij", true)}));
  REQUIRE(state.workloads().size() == 1);
  const Workload& w = *state.workloads().front();
  CHECK(w.kind == "Deployment");
  CHECK(w.meta.name == "httpbin");
  CHECK(state.instancesOf(w).size() == 2);
  CHECK(state.workloadsIn("foo").size() == 1);
  CHECK(state.dataplane(w).sidecar);
}

TEST_CASE("folds pods through a ReplicaSet that is in the input", "[injection]") {
  Inputs inputs = deploymentWithPods({deploymentPod(kHttpbin, "5d9c7b", "abcde", true)});
  WorkloadSpec rs = kHttpbin;
  rs.kind = "ReplicaSet";
  rs.name = "httpbin-5d9c7b";
  Workload replica_set = testing::workload(rs);
  replica_set.meta.owners.push_back({"Deployment", "httpbin"});
  inputs.workloads.push_back(std::move(replica_set));
  const ClusterState state(std::move(inputs));
  REQUIRE(state.workloads().size() == 1);
  CHECK(state.workloads().front()->kind == "Deployment");
  CHECK(state.instancesOf(*state.workloads().front()).size() == 2);
}

TEST_CASE("reports a folded workload without sidecar when one running pod lacks the proxy",
          "[injection]") {
  // The template would be injected (namespace enabled), but one pod was admitted without it.
  const ClusterState state(deploymentWithPods({deploymentPod(kHttpbin, "5d9c7b", "abcde", true),
                                               deploymentPod(kHttpbin, "5d9c7b", "fghij", false),
                                               deploymentPod(kHttpbin, "5d9c7b", "klmno", true)}));
  REQUIRE(state.workloads().size() == 1);
  const DataplaneDecision& decision = state.dataplane(*state.workloads().front());
  CAPTURE(decision.reason);
  CHECK_FALSE(decision.sidecar);
  CHECK_FALSE(decision.ambient);
  CHECK_THAT(decision.reason, Catch::Contains("httpbin-5d9c7b-fghij"));
}

TEST_CASE("lets running pods with a proxy decide over a template that would not be injected",
          "[injection]") {
  Inputs inputs = deploymentWithPods({deploymentPod(kHttpbin, "5d9c7b", "abcde", true)});
  inputs.namespaces.front().meta.labels.clear();  // the namespace label was removed since
  const ClusterState state(std::move(inputs));
  REQUIRE(state.workloads().size() == 1);
  CHECK(state.dataplane(*state.workloads().front()).sidecar);
}

TEST_CASE("folds pods into the controller that owns them, directly or through a Job",
          "[injection]") {
  auto [controller_kind, controller_name, owner_kind, owner_name] =
      GENERATE(table<std::string, std::string, std::string, std::string>({
          {"StatefulSet", "db", "StatefulSet", "db"},
          {"DaemonSet", "agent", "DaemonSet", "agent"},
          {"Job", "migrate", "Job", "migrate"},
          {"CronJob", "backup", "Job", "backup-28391234"},
      }));
  CAPTURE(controller_kind, owner_name);
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(
      testing::workload({.ns = "foo", .name = controller_name, .kind = controller_kind}));
  Workload pod =
      testing::workload({.ns = "foo", .name = owner_name + "-x7k2p", .kind = "Pod", .live = true});
  pod.meta.owners.push_back({owner_kind, owner_name});
  inputs.workloads.push_back(std::move(pod));
  const ClusterState state(std::move(inputs));
  REQUIRE(state.workloads().size() == 1);
  const Workload& w = *state.workloads().front();
  CHECK(w.kind == controller_kind);
  CHECK(w.meta.name == controller_name);
  REQUIRE(state.instancesOf(w).size() == 1);
  // The running pod has no proxy: it decides over the template the namespace would inject.
  CHECK_FALSE(state.dataplane(w).sidecar);
  CHECK_THAT(state.dataplane(w).reason, Catch::Contains(owner_name + "-x7k2p"));
}

TEST_CASE("keeps a pod whose owner is not in the input as a workload of its own", "[injection]") {
  Inputs inputs;
  inputs.namespaces.push_back(testing::ns("foo", kEnabled));
  inputs.workloads.push_back(deploymentPod(kHttpbin, "5d9c7b", "abcde", false));
  const ClusterState state(std::move(inputs));
  REQUIRE(state.workloads().size() == 1);
  const Workload& w = *state.workloads().front();
  CHECK(w.kind == "Pod");
  CHECK(w.meta.name == "httpbin-5d9c7b-abcde");
  CHECK_FALSE(state.dataplane(w).sidecar);
}

}  // namespace
}  // namespace peergate::validation
