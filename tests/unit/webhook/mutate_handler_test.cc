#include <catch2/catch.hpp>

#include "admission_fixtures.h"

namespace peergate::webhook::testing {
namespace {

using Catch::Contains;

// Applies the reply's patch to the object the review carried.
json patched(const Reply& reply, const json& object) {
  const json patch = patchOf(reply);
  REQUIRE(patch.is_array());
  return object.patch(patch);
}

std::string annotation(const json& object, const std::string& key) {
  return object["metadata"]["annotations"].value(key, "");
}

TEST_CASE("mutate adds the scope and effective annotations to a policy without any",
          "[admission]") {
  Webhook webhook;
  const PolicyObject policy{.ns = "foo", .mode = "STRICT"};
  const Reply reply = post(webhook.handler, "/mutate", policyReview(policy));
  INFO(reply.body.dump());
  CHECK(reply.http_status == 200);
  CHECK(reply.allowed());
  CHECK(reply.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  const json patch = patchOf(reply);
  REQUIRE(patch.size() == 1);
  CHECK(patch[0]["op"] == "add");
  CHECK(patch[0]["path"] == "/metadata/annotations");
  const json object = peerAuthentication(policy);
  const json after = patched(reply, object);
  CHECK(annotation(after, "peergate.io/scope") == "namespace");
  CHECK(annotation(after, "peergate.io/effective") ==
        "2 workloads: STRICT 0->2, PERMISSIVE 2->0, DISABLE 0");
  CHECK(after["spec"] == object["spec"]);
  CHECK(reply.outcome.webhook == "mutate");
  CHECK(reply.outcome.name == "default");
}

TEST_CASE("mutate adds each annotation with an escaped pointer when the map exists",
          "[admission]") {
  Webhook webhook;
  const PolicyObject policy{.ns = "istio-system",
                            .mode = "STRICT",
                            .annotations = {{"team", "platform"}, {"peergate.io/scope", "old"}}};
  const Reply reply = post(webhook.handler, "/mutate", policyReview(policy));
  INFO(reply.body.dump());
  const json patch = patchOf(reply);
  REQUIRE(patch.size() == 2);
  CHECK(patch[0]["path"] == "/metadata/annotations/peergate.io~1scope");
  CHECK(patch[1]["path"] == "/metadata/annotations/peergate.io~1effective");
  const json after = patched(reply, peerAuthentication(policy));
  CHECK(annotation(after, "team") == "platform");
  CHECK(annotation(after, "peergate.io/scope") == "mesh");
  CHECK_THAT(annotation(after, "peergate.io/effective"), Contains("5 workloads: STRICT 0->5"));
}

TEST_CASE("mutate names the scope Istio gives each policy", "[admission]") {
  using Row = std::tuple<std::string, json, std::string, std::string>;
  auto [ns, selector, scope, effective] =
      GENERATE(table<std::string, json, std::string, std::string>({
          Row{"foo", nullptr, "namespace", "2 workloads"},
          Row{"foo",
              {{"app", "httpbin"}},
              "workload",
              "1 workload: STRICT 0->1, PERMISSIVE 1->0, DISABLE 0"},
          Row{"istio-system", nullptr, "mesh", "5 workloads"},
          Row{"istio-system",
              {{"app", "httpbin"}},
              "ignored",
              "0 workloads: STRICT 0, PERMISSIVE 0, DISABLE 0"},
      }));
  CAPTURE(ns, selector.dump());
  Webhook webhook;
  const PolicyObject policy{.ns = ns, .mode = "STRICT", .selector = selector};
  const Reply reply = post(webhook.handler, "/mutate", policyReview(policy));
  INFO(reply.body.dump());
  const json after = patched(reply, peerAuthentication(policy));
  CHECK(annotation(after, "peergate.io/scope") == scope);
  CHECK_THAT(annotation(after, "peergate.io/effective"), Contains(effective));
}

TEST_CASE("mutate on UPDATE summarises the modes before and after", "[admission]") {
  Webhook webhook(withFooStrict());
  const PolicyObject policy{.ns = "foo", .mode = "PERMISSIVE", .created = "2026-01-05T10:00:00Z"};
  const json old_object =
      peerAuthentication({.ns = "foo", .mode = "STRICT", .created = "2026-01-05T10:00:00Z"});
  const Reply reply = post(webhook.handler, "/mutate", policyReview(policy, "UPDATE", old_object));
  INFO(reply.body.dump());
  const json after = patched(reply, peerAuthentication(policy));
  CHECK(annotation(after, "peergate.io/effective") ==
        "2 workloads: STRICT 2->0, PERMISSIVE 0->2, DISABLE 0");
}

TEST_CASE("mutate is idempotent: annotations already right give no patch", "[admission]") {
  Webhook webhook;
  PolicyObject policy{.ns = "foo", .mode = "STRICT"};
  const Reply first = post(webhook.handler, "/mutate", policyReview(policy));
  policy.annotations = patched(first, peerAuthentication(policy))["metadata"]["annotations"];
  const Reply again = post(webhook.handler, "/mutate", policyReview(policy));
  INFO(again.body.dump());
  CHECK(again.allowed());
  CHECK_FALSE(again.response.contains("patch"));
  CHECK_FALSE(again.response.contains("patchType"));
}

TEST_CASE("mutate lets DELETE through without a patch", "[admission]") {
  Webhook webhook(withFooStrict());
  const Reply reply =
      post(webhook.handler, "/mutate", policyReview({.ns = "foo", .mode = "STRICT"}, "DELETE"));
  CHECK(reply.allowed());
  CHECK_FALSE(reply.response.contains("patch"));
  CHECK_FALSE(reply.response.contains("patchType"));
}

TEST_CASE("mutate answers v1beta1 in v1beta1 with a JSONPatch", "[admission]") {
  Webhook webhook;
  ReviewSpec spec;
  spec.api_version = "admission.k8s.io/v1beta1";
  spec.ns = "foo";
  spec.name = "default";
  spec.object = peerAuthentication({.ns = "foo", .mode = "STRICT"});
  const Reply reply = post(webhook.handler, "/mutate", review(spec));
  CHECK(reply.body["apiVersion"] == "admission.k8s.io/v1beta1");
  CHECK(reply.response["patchType"] == "JSONPatch");
}

TEST_CASE("mutate refuses kinds other than PeerAuthentication", "[admission]") {
  Webhook webhook;
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "Namespace";
  spec.name = "foo";
  spec.object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "foo"}}}};
  const Reply reply = post(webhook.handler, "/mutate", review(spec));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("PeerAuthentication only"));
  CHECK_FALSE(reply.response.contains("patch"));
}

TEST_CASE("mutate before the first sync is refused with 500", "[admission]") {
  Webhook webhook("");
  const Reply reply =
      post(webhook.handler, "/mutate", policyReview({.ns = "foo", .mode = "STRICT"}));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 500);
}

WebhookConfig staleConfig(bool fail_open) {
  WebhookConfig config;
  config.max_staleness_seconds = 0;  // any age is too old
  config.fail_open_when_stale = fail_open;
  return config;
}

TEST_CASE("mutate on stale state refuses with 503 like /validate", "[admission]") {
  Webhook webhook(kClusterYaml, staleConfig(false));
  const Reply reply =
      post(webhook.handler, "/mutate", policyReview({.ns = "foo", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 503);
  CHECK_THAT(reply.message(), Contains("cluster state is stale"));
  CHECK(reply.outcome.error == AdmissionError::StateUnavailable);
}

TEST_CASE("mutate failing open on stale state admits without writing a summary", "[admission]") {
  Webhook webhook(kClusterYaml, staleConfig(true));
  const Reply fresh_policy =
      post(webhook.handler, "/mutate", policyReview({.ns = "foo", .mode = "STRICT"}));
  INFO(fresh_policy.body.dump());
  CHECK(fresh_policy.allowed());
  CHECK_FALSE(fresh_policy.response.contains("patch"));
  CHECK_THAT(fresh_policy.warnings(), Contains("did not annotate") && Contains("stale"));

  // Annotations from an earlier version would describe a spec that may no longer be this one.
  const PolicyObject annotated{
      .ns = "foo",
      .mode = "PERMISSIVE",
      .annotations = {{"peergate.io/scope", "namespace"},
                      {"peergate.io/effective", "2 workloads: STRICT 0->2"},
                      {"team", "payments"}}};
  const Reply update = post(webhook.handler, "/mutate", policyReview(annotated, "UPDATE"));
  INFO(update.body.dump());
  CHECK(update.allowed());
  const json after = patched(update, peerAuthentication(annotated));
  CHECK(after["metadata"]["annotations"] == json{{"team", "payments"}});
}

}  // namespace
}  // namespace peergate::webhook::testing
