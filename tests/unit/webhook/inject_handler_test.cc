#include <catch2/catch.hpp>

#include "admission_fixtures.h"

namespace peergate::webhook::testing {
namespace {

using Catch::Contains;

// A pod as a ReplicaSet of Deployment `name` creates it: generateName, no name, no namespace.
json replicaSetPod(const std::string& app, json annotations = json::object()) {
  json container = {{"name", app}, {"image", app}, {"ports", {{{"containerPort", 8000}}}}};
  container["readinessProbe"]["httpGet"] = {{"path", "/status"}, {"port", 8000}};
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  pod["metadata"] = {{"generateName", app + "-7d4b9c6f5-"},
                     {"labels", {{"app", app}, {"pod-template-hash", "7d4b9c6f5"}}},
                     {"annotations", std::move(annotations)}};
  pod["spec"]["serviceAccountName"] = app;
  pod["spec"]["containers"] = json::array({container});
  return pod;
}

std::string podReview(const std::string& ns, const json& pod, std::string operation = "CREATE") {
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "Pod";
  spec.resource = "pods";
  spec.ns = ns;
  spec.operation = std::move(operation);
  spec.object = pod;
  return review(spec);
}

const json* containerNamed(const json& containers, const std::string& name) {
  if (!containers.is_array()) return nullptr;
  for (const json& container : containers) {
    if (container.value("name", "") == name) return &container;
  }
  return nullptr;
}

json injected(const Reply& reply, const json& pod) {
  const json patch = patchOf(reply);
  REQUIRE(patch.is_array());
  return pod.patch(patch);
}

TEST_CASE("inject adds the proxy to a pod of an injection-enabled namespace", "[admission]") {
  Webhook webhook;
  const json pod = replicaSetPod("httpbin");
  const Reply reply = post(webhook.handler, "/inject", podReview("foo", pod));
  INFO(reply.body.dump());
  CHECK(reply.http_status == 200);
  REQUIRE(reply.allowed());
  const json after = injected(reply, pod);
  const json* proxy = containerNamed(after["spec"]["containers"], "peergate-proxy");
  REQUIRE(proxy != nullptr);
  CHECK((*proxy)["securityContext"]["runAsUser"] == 1337);
  CHECK(containerNamed(after["spec"]["initContainers"], "peergate-init") != nullptr);
  CHECK(after["metadata"]["labels"]["security.istio.io/tlsMode"] == "istio");
  CHECK(after["metadata"]["annotations"].contains("sidecar.istio.io/status"));
  // The app's probe now goes through the proxy's admin port.
  const json* app = containerNamed(after["spec"]["containers"], "httpbin");
  REQUIRE(app != nullptr);
  CHECK((*app)["readinessProbe"]["httpGet"]["port"] == 15020);
  CHECK(reply.outcome.webhook == "inject");
  CHECK(reply.outcome.injection == "sidecar");
  CHECK(reply.outcome.name == "httpbin-7d4b9c6f5-*");
}

TEST_CASE("inject leaves a pod of a namespace without injection untouched", "[admission]") {
  Webhook webhook;
  const Reply reply = post(webhook.handler, "/inject", podReview("legacy", replicaSetPod("app")));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK_FALSE(reply.response.contains("patch"));
  CHECK(reply.outcome.injection == "skipped");
}

TEST_CASE("inject labels an ambient namespace's pod and adds no container", "[admission]") {
  Webhook webhook(std::string(kClusterYaml) + R"(
---
apiVersion: v1
kind: Namespace
metadata: {name: mesh-lite, labels: {istio.io/dataplane-mode: ambient}}
)");
  const json pod = replicaSetPod("web");
  const Reply reply = post(webhook.handler, "/inject", podReview("mesh-lite", pod));
  INFO(reply.body.dump());
  REQUIRE(reply.allowed());
  const json after = injected(reply, pod);
  CHECK(after["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient");
  CHECK(after["spec"]["containers"].size() == 1);
  CHECK_FALSE(after["spec"].contains("initContainers"));
  CHECK(reply.outcome.injection == "ambient");
}

TEST_CASE("inject of an already injected pod sends no patch", "[admission]") {
  Webhook webhook;
  const json pod = replicaSetPod("httpbin");
  const json once = injected(post(webhook.handler, "/inject", podReview("foo", pod)), pod);
  const Reply again = post(webhook.handler, "/inject", podReview("foo", once));
  INFO(again.body.dump());
  CHECK(again.allowed());
  CHECK_FALSE(again.response.contains("patch"));
}

TEST_CASE("inject refuses a pod with an invalid traffic annotation, with Istio's message",
          "[admission]") {
  Webhook webhook;
  const json pod =
      replicaSetPod("httpbin", {{"traffic.sidecar.istio.io/excludeInboundPorts", "80,x"}});
  const Reply reply = post(webhook.handler, "/inject", podReview("foo", pod));
  INFO(reply.body.dump());
  CHECK(reply.http_status == 200);
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("traffic.sidecar.istio.io/excludeInboundPorts"));
  CHECK_THAT(reply.message(), Contains("failed parsing port 'x'"));
  CHECK_FALSE(reply.response.contains("patch"));
}

TEST_CASE("inject allows pod updates without touching them", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/inject", podReview("foo", replicaSetPod("httpbin"), "UPDATE"));
  CHECK(reply.allowed());
  CHECK_FALSE(reply.response.contains("patch"));
}

TEST_CASE("inject answers another kind with an error naming the webhook rules", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/inject", policyReview(PolicyObject{.ns = "foo", .mode = "STRICT"}));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("/inject handles Pod only"));
}

TEST_CASE("inject before the first cluster sync fails the pod with a retry hint", "[admission]") {
  Webhook webhook("");
  const Reply reply = post(webhook.handler, "/inject", podReview("foo", replicaSetPod("a")));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 500);
  CHECK_THAT(reply.message(), Contains("not synced"));
}

WebhookConfig staleConfig(bool fail_open) {
  WebhookConfig config;
  config.max_staleness_seconds = 0;  // any age is too old
  config.fail_open_when_stale = fail_open;
  return config;
}

TEST_CASE("inject on stale state refuses the pod with 503 rather than guess", "[admission]") {
  Webhook webhook(kClusterYaml, staleConfig(false));
  const Reply reply = post(webhook.handler, "/inject", podReview("foo", replicaSetPod("httpbin")));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 503);
  CHECK_THAT(reply.message(), Contains("cluster state is stale"));
  CHECK(reply.outcome.error == AdmissionError::StateUnavailable);
}

TEST_CASE("inject failing open on stale state admits the pod uninjected and marked",
          "[admission]") {
  Webhook webhook(kClusterYaml, staleConfig(true));
  // foo is injection-enabled in the (stale) snapshot: still no proxy on a guess. The mark goes
  // into annotations, metadata or neither there yet.
  json original = replicaSetPod("httpbin");
  const int shape = GENERATE(0, 1, 2);
  CAPTURE(shape);
  if (shape == 1) original["metadata"].erase("annotations");
  if (shape == 2) original.erase("metadata");
  const Reply reply = post(webhook.handler, "/inject", podReview("foo", original));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK(reply.outcome.injection == "stale");
  CHECK_FALSE(reply.outcome.errored());
  CHECK_THAT(reply.warnings(), Contains("did not inject this pod") && Contains("stale"));
  const json after = injected(reply, original);
  CHECK(after["spec"] == original["spec"]);
  CHECK_THAT(after["metadata"]["annotations"].value("peergate.io/injection-skipped", ""),
             Contains("cluster state is stale") && Contains("recreate the pod"));
}

}  // namespace
}  // namespace peergate::webhook::testing
