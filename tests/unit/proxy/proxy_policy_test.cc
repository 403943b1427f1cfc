#include <string>

#include <catch2/catch.hpp>

#include "peergate/proxy/proxy_policy.h"
#include "peergate/validation/decode.h"

namespace peergate::proxy {
namespace {

using validation::Mode;

constexpr const char* kPods = R"(
apiVersion: v1
kind: Namespace
metadata: {name: foo}
---
apiVersion: v1
kind: Pod
metadata:
  name: httpbin-7f9c-abcde
  namespace: foo
  uid: u1
  labels: {app: httpbin, pod-template-hash: 7f9c}
  ownerReferences: [{kind: ReplicaSet, name: httpbin-7f9c}]
spec:
  serviceAccountName: httpbin
  containers:
  - {name: httpbin, image: httpbin, ports: [{containerPort: 8000}, {containerPort: 9000}]}
  - {name: peergate-proxy, image: peergate}
status: {podIP: 10.1.0.2, podIPs: [{ip: 10.1.0.2}, {ip: "fd00:10:1::2"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      serviceAccountName: httpbin
      containers: [{name: httpbin, image: httpbin}]
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: foo, uid: u2, labels: {app: legacy}}
spec:
  containers: [{name: legacy, image: legacy}]
status: {podIP: 10.1.0.9, podIPs: [{ip: 10.1.0.9}, {ip: "fd00:10:1::9"}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: httpbin, namespace: foo, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {matchLabels: {app: httpbin}}
  mtls: {mode: UNSET}
  portLevelMtls:
    9000: {mode: DISABLE}
)";

ProxyPolicy build(const std::string& yaml, const std::string& pod,
                  const std::string& trust_domain = "") {
  validation::Inputs inputs;
  REQUIRE(validation::decodeInto(yaml, "state.yaml", inputs).ok());
  const validation::ClusterState state(std::move(inputs));
  validation::Result<ProxyPolicy> policy = buildProxyPolicy(state, "foo", pod, trust_domain);
  INFO((policy ? "" : policy.error().describe()));
  REQUIRE(policy);
  return std::move(policy).value();
}

TEST_CASE("resolves the pod's per-port modes with the engine", "[proxy]") {
  const ProxyPolicy policy = build(kPods, "httpbin-7f9c-abcde");
  // UNSET at workload level inherits the namespace's STRICT; port 9000 is DISABLE.
  CHECK(policy.modeForPort(8000) == Mode::Strict);
  CHECK(policy.modeForPort(9000) == Mode::Disable);
  CHECK(policy.modeForPort(12345) == Mode::Strict);
  CHECK(policy.workload_name == "httpbin");
  CHECK(policy.trust_domain == "cluster.local");
}

TEST_CASE("knows which pod IPs run a proxy and the identity each must present", "[proxy]") {
  const ProxyPolicy policy = build(kPods, "legacy", "example.org");
  const ProxiedPeer* httpbin = policy.peerFor("10.1.0.2");
  REQUIRE(httpbin != nullptr);
  CHECK(httpbin->spiffe_id == "spiffe://example.org/ns/foo/sa/httpbin");
  CHECK(httpbin->workload == "foo/httpbin");
  CHECK(policy.peerFor("10.1.0.9") == nullptr);  // legacy: no proxy container
  CHECK(policy.workloadAt("10.1.0.9") == "foo/legacy");
}

TEST_CASE("a dual-stack pod is found by each of its addresses, however spelled", "[proxy]") {
  const ProxyPolicy policy = build(kPods, "legacy", "example.org");
  for (const char* ip :
       {"fd00:10:1::2", "fd00:10:1:0::2", "FD00:10:1:0:0:0:0:2", "10.1.0.2", "::ffff:10.1.0.2"}) {
    CAPTURE(ip);
    const ProxiedPeer* httpbin = policy.peerFor(ip);
    REQUIRE(httpbin != nullptr);
    CHECK(httpbin->spiffe_id == "spiffe://example.org/ns/foo/sa/httpbin");
    CHECK(policy.workloadAt(ip) == "foo/httpbin");
  }
  CHECK(policy.peerFor("fd00:10:1::9") == nullptr);  // legacy: no proxy on either family
  CHECK(policy.workloadAt("fd00:10:1:0::9") == "foo/legacy");
  CHECK(policy.peerFor("fd00:10:1::3") == nullptr);
  CHECK(policy.peers->proxied_peers.size() == 2);
}

TEST_CASE("a pod missing from the cluster state is a startup error naming it", "[proxy]") {
  validation::Inputs inputs;
  REQUIRE(validation::decodeInto(kPods, "state.yaml", inputs).ok());
  const validation::ClusterState state(std::move(inputs));
  const auto policy = buildProxyPolicy(state, "foo", "nope", "");
  REQUIRE_FALSE(policy);
  CHECK(policy.error().code == "proxy.pod_not_found");
  CHECK(policy.error().message.find("foo/nope") != std::string::npos);
}

TEST_CASE("without any policy every port is PERMISSIVE", "[proxy]") {
  const ProxyPolicy policy = build(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: foo}\n"
      "spec: {containers: [{name: c, image: i}]}\n",
      "p");
  CHECK(policy.modeForPort(80) == Mode::Permissive);
  CHECK(policy.peers->proxied_peers.empty());
}

// The control plane splits the reply in two (the pod's own part, and the peers shared by every
// proxy) and the proxy reads it back whole.
nlohmann::json feedReply(const ProxyPolicy& policy) {
  nlohmann::json reply = validation::ownPolicyToJson(policy);
  reply.update(validation::peersToJson(*policy.peers));
  return reply;
}

TEST_CASE("the policy feed's JSON carries the whole policy across", "[proxy]") {
  const ProxyPolicy sent = build(kPods, "httpbin-7f9c-abcde");
  const auto received = validation::dataplanePolicyFromJson(feedReply(sent));
  REQUIRE(received.ok());
  const ProxyPolicy& policy = received.value();
  CHECK(policy.service_account == "httpbin");
  CHECK(policy.workload_name == "httpbin");
  CHECK(policy.modeForPort(8000) == Mode::Strict);
  CHECK(policy.modeForPort(9000) == Mode::Disable);
  CHECK(policy.modeForPort(1234) == Mode::Strict);
  CHECK(*policy.peers == *sent.peers);
  REQUIRE(policy.peerFor("10.1.0.2") != nullptr);
  CHECK(policy.peerFor("10.1.0.2")->spiffe_id == "spiffe://cluster.local/ns/foo/sa/httpbin");
  CHECK(policy.workloadAt("10.1.0.9") == "foo/legacy");
  REQUIRE(policy.peerFor("fd00:10:1::2") != nullptr);
  CHECK(policy.workloadAt("fd00:10:1::9") == "foo/legacy");
}

TEST_CASE("a malformed policy feed reply is an error naming the field", "[proxy]") {
  nlohmann::json reply = feedReply(build(kPods, "httpbin-7f9c-abcde"));
  const auto [field, value, message] = GENERATE(table<std::string, nlohmann::json, std::string>({
      {"mode", "SOMETIMES", "policy.mode: unknown mode SOMETIMES"},
      {"trustDomain", 7, "policy.trustDomain: wrong type"},
      {"ports", {{"http", "STRICT"}}, "ports.http: expected a port and a mode"},
      {"peers", {{{"ip", "10.0.0.1"}}}, "peers[]: missing \"spiffeId\""},
  }));
  reply[field] = value;
  const auto decoded = validation::dataplanePolicyFromJson(reply);
  REQUIRE_FALSE(decoded.ok());
  CHECK(decoded.error().code == "feed.decode");
  CHECK(decoded.error().message == message);
}

}  // namespace
}  // namespace peergate::proxy
