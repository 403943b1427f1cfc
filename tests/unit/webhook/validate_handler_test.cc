#include <catch2/catch.hpp>

#include "../../../webhook/src/admission_review.h"
#include "admission_fixtures.h"
#include "peergate/validation/plan.h"

namespace peergate::webhook::testing {
namespace {

using Catch::Contains;

const json kLegacyPolicyAllowed = {{"peergate.io/allow", "PG0102"},
                                   {"peergate.io/reason", "billing gets its proxy on Monday"}};

TEST_CASE("a namespace-wide STRICT policy on an injected namespace is admitted", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "foo", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK(reply.http_status == 200);
  CHECK(reply.body["apiVersion"] == "admission.k8s.io/v1");
  CHECK(reply.body["kind"] == "AdmissionReview");
  CHECK(reply.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(reply.allowed());
  CHECK_FALSE(reply.response.contains("status"));
  CHECK_FALSE(reply.response.contains("patch"));
  CHECK_FALSE(reply.response.contains("patchType"));
  const AdmissionOutcome& outcome = reply.outcome;
  CHECK(outcome.webhook == "validate");
  CHECK(outcome.uid == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK(outcome.kind == "PeerAuthentication");
  CHECK(outcome.namespace_name == "foo");
  CHECK(outcome.name == "default");
  CHECK(outcome.operation == "CREATE");
  CHECK(outcome.user == "alice");
  CHECK(outcome.allowed);
  CHECK_FALSE(outcome.errored());
}

TEST_CASE("a mesh-wide DISABLE policy is denied with 403 Forbidden and PG0101", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "istio-system", .mode = "DISABLE"}));
  INFO(reply.body.dump());
  CHECK(reply.http_status == 200);
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 403);
  CHECK(reply.response["status"]["reason"] == "Forbidden");
  CHECK_THAT(reply.message(), Contains("[PG0101]") && Contains("Fix:"));
  CHECK_THAT(reply.message(), Contains("peergate.io/allow: PG0101"));
  CHECK(reply.message().size() <= 1024);
  CHECK(reply.message().find('\n') == std::string::npos);
  // Every workload goes from PERMISSIVE to DISABLE: the downgrade warns, even on a denial.
  CHECK(reply.outcome.findings ==
        std::vector<AppliedFinding>{{"PG0101", "deny"}, {"PG0201", "warn"}});
  CHECK_THAT(reply.warnings(),
             Contains("[PG0201]") && Contains("PERMISSIVE -> DISABLE") && Contains("+4 more"));
  CHECK_FALSE(reply.outcome.allowed);
  CHECK_FALSE(reply.outcome.errored());
  CHECK(reply.outcome.message == reply.message());
}

TEST_CASE("STRICT on a namespace without proxies is denied naming its workloads", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "legacy", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 403);
  CHECK_THAT(reply.message(),
             Contains("[PG0102]") && Contains("legacy/billing") && Contains("legacy/ledger"));
}

TEST_CASE("the exception annotation turns a denial into warnings", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/validate",
           policyReview({.ns = "legacy", .mode = "STRICT", .annotations = kLegacyPolicyAllowed}));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK_THAT(reply.warnings(), Contains("[PG0102]"));
  CHECK_THAT(reply.warnings(), Contains("peergate.io/allow admitted PG0102") &&
                                   Contains("billing gets its proxy on Monday"));
  CHECK(reply.outcome.findings == std::vector<AppliedFinding>{{"PG0102", "exception"}});
  CHECK(reply.outcome.findingCodes("exception") == std::vector<std::string>{"PG0102"});
}

TEST_CASE("an exception for another code does not admit the finding", "[admission]") {
  Webhook webhook;
  const json annotations = {{"peergate.io/allow", "PG0101, NOTACODE"},
                            {"peergate.io/reason", "testing"}};
  const Reply reply =
      post(webhook.handler, "/validate",
           policyReview({.ns = "legacy", .mode = "STRICT", .annotations = annotations}));
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains("[PG0102]"));
  CHECK_THAT(reply.warnings(), Contains("NOTACODE"));
  CHECK(reply.outcome.findingCodes("exception").empty());
  CHECK(reply.outcome.findings == std::vector<AppliedFinding>{{"PG0102", "deny"}});
}

TEST_CASE("an exception without a reason is denied, asking for one", "[admission]") {
  Webhook webhook;
  const json annotations = {{"peergate.io/allow", "PG0102"}};
  const Reply reply =
      post(webhook.handler, "/validate",
           policyReview({.ns = "legacy", .mode = "STRICT", .annotations = annotations}));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 403);
  CHECK_THAT(reply.message(), Contains("peergate.io/reason"));
}

TEST_CASE("deleting a STRICT policy is admitted with a PG0201 downgrade warning", "[admission]") {
  Webhook webhook(withFooStrict());
  const PolicyObject stored{.ns = "foo", .mode = "STRICT", .created = "2026-01-05T10:00:00Z"};
  const Reply reply = post(webhook.handler, "/validate", policyReview(stored, "DELETE"));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK_THAT(reply.warnings(), Contains("[PG0201]"));
  CHECK_FALSE(reply.response.contains("patch"));
  CHECK(reply.outcome.operation == "DELETE");
  CHECK(reply.outcome.name == "default");
}

TEST_CASE("DELETE without oldObject removes the object named by the request", "[admission]") {
  Webhook webhook(withFooStrict());
  ReviewSpec spec;
  spec.operation = "DELETE";
  spec.ns = "foo";
  spec.name = "default";
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  CHECK(reply.allowed());
  CHECK_THAT(reply.warnings(), Contains("[PG0201]"));
}

TEST_CASE("CREATEs share the analysis of the state before them only within one snapshot",
          "[admission]") {
  Webhook webhook(withFooStrict());
  const PolicyObject exception{
      .ns = "foo", .name = "httpbin", .mode = "PERMISSIVE", .selector = {{"app", "httpbin"}}};
  const Reply first = post(webhook.handler, "/validate", policyReview(exception));
  const Reply again = post(webhook.handler, "/validate", policyReview(exception));
  CHECK(first.allowed());
  CHECK_THAT(first.warnings(), Contains("[PG0201]") && Contains("STRICT -> PERMISSIVE"));
  CHECK(again.body == first.body);
  // foo's STRICT policy is gone from the cluster: the same request weakens nothing any more.
  webhook.store.publish(clusterFrom(kClusterYaml));
  const Reply after_swap = post(webhook.handler, "/validate", policyReview(exception));
  INFO(after_swap.body.dump());
  CHECK(after_swap.allowed());
  CHECK_THAT(after_swap.warnings(), !Contains("[PG0201]"));
}

TEST_CASE("UPDATE compares against oldObject, not only the snapshot", "[admission]") {
  Webhook webhook;  // the snapshot has not seen foo/default yet
  const json old_object =
      peerAuthentication({.ns = "foo", .mode = "STRICT", .created = "2026-01-05T10:00:00Z"});
  const Reply reply =
      post(webhook.handler, "/validate",
           policyReview({.ns = "foo", .mode = "PERMISSIVE", .created = "2026-01-05T10:00:00Z"},
                        "UPDATE", old_object));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK_THAT(reply.warnings(), Contains("[PG0201]") && Contains("STRICT -> PERMISSIVE"));
  CHECK(reply.outcome.operation == "UPDATE");
}

TEST_CASE("UPDATE to STRICT on legacy is denied", "[admission]") {
  Webhook webhook;
  const json old_object = peerAuthentication({.ns = "legacy", .mode = "PERMISSIVE"});
  const Reply reply = post(webhook.handler, "/validate",
                           policyReview({.ns = "legacy", .mode = "STRICT"}, "UPDATE", old_object));
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains("[PG0102]"));
}

TEST_CASE("a v1beta1 review is answered in v1beta1", "[admission]") {
  Webhook webhook;
  ReviewSpec spec;
  spec.api_version = "admission.k8s.io/v1beta1";
  spec.ns = "istio-system";
  spec.name = "default";
  spec.object = peerAuthentication({.ns = "istio-system", .mode = "DISABLE"});
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  CHECK(reply.body["apiVersion"] == "admission.k8s.io/v1beta1");
  CHECK(reply.response["uid"] == spec.uid);
  CHECK_FALSE(reply.allowed());
}

TEST_CASE("dryRun requests get the same verdict", "[admission]") {
  Webhook webhook;
  for (const std::string mode : {"DISABLE", "STRICT"}) {
    ReviewSpec spec;
    spec.ns = "istio-system";
    spec.name = "default";
    spec.object = peerAuthentication({.ns = "istio-system", .mode = mode});
    const Reply wet = post(webhook.handler, "/validate", review(spec));
    spec.dry_run = true;
    const Reply dry = post(webhook.handler, "/validate", review(spec));
    CAPTURE(mode);
    CHECK(dry.allowed() == wet.allowed());
    CHECK(dry.message() == wet.message());
    CHECK(dry.outcome.dry_run);
    CHECK_FALSE(wet.outcome.dry_run);
  }
}

TEST_CASE("problems that exist before the change never deny it", "[admission]") {
  const std::string mesh_disable = std::string(kClusterYaml) + R"(
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: DISABLE}}
)";
  Webhook webhook(mesh_disable);
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "foo", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
}

TEST_CASE("Istio's schema errors always deny, with Istio's message", "[admission]") {
  WebhookConfig config;
  config.actions[validation::FindingCode::PortLevelMtlsWithoutSelector] = FindingAction::Off;
  Webhook webhook(kClusterYaml, config);
  const Reply reply = post(
      webhook.handler, "/validate",
      policyReview(
          {.ns = "foo", .mode = "STRICT", .port_level_mtls = {{"8000", {{"mode", "DISABLE"}}}}}));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(),
             Contains("[PG0002]") &&
                 Contains("mesh/namespace peer authentication cannot have port level mTLS"));
}

TEST_CASE("each finding's configured action decides deny, warn or nothing", "[admission]") {
  using Row = std::tuple<FindingAction, bool, bool>;  // action -> allowed, warned
  auto [action, allowed, warned] = GENERATE(table<FindingAction, bool, bool>({
      Row{FindingAction::Deny, false, false},
      Row{FindingAction::Warn, true, true},
      Row{FindingAction::Off, true, false},
  }));
  CAPTURE(static_cast<int>(action));
  WebhookConfig config;
  config.actions[validation::FindingCode::MeshWideDisable] = action;
  Webhook webhook(kClusterYaml, config);
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "istio-system", .mode = "DISABLE"}));
  INFO(reply.body.dump());
  CHECK(reply.allowed() == allowed);
  CHECK((reply.warnings().find("[PG0101]") != std::string::npos) == warned);
}

TEST_CASE("each code is recorded with the action applied, not the request's verdict",
          "[admission]") {
  // PG0101 denies; PG0201 is a Warning-severity code on the same request.
  using Row = std::tuple<FindingAction, bool, std::vector<AppliedFinding>>;
  auto [action, annotate, expected] =
      GENERATE(table<FindingAction, bool, std::vector<AppliedFinding>>({
          Row{FindingAction::Deny, false, {{"PG0101", "deny"}, {"PG0201", "warn"}}},
          Row{FindingAction::Deny, true, {{"PG0101", "exception"}, {"PG0201", "warn"}}},
          Row{FindingAction::Warn, false, {{"PG0101", "warn"}, {"PG0201", "warn"}}},
          Row{FindingAction::Off, false, {{"PG0201", "warn"}}},
      }));
  CAPTURE(static_cast<int>(action), annotate);
  WebhookConfig config;
  config.actions[validation::FindingCode::MeshWideDisable] = action;
  Webhook webhook(kClusterYaml, config);
  const json allow = {{"peergate.io/allow", "PG0101"}, {"peergate.io/reason", "rehearsal"}};
  const Reply reply = post(
      webhook.handler, "/validate",
      policyReview(
          {.ns = "istio-system", .mode = "DISABLE", .annotations = annotate ? allow : json()}));
  INFO(reply.body.dump());
  CHECK(reply.outcome.findings == expected);
}

TEST_CASE("refusals for missing or stale state carry the state_unavailable reason", "[admission]") {
  Webhook unsynced("");
  const Reply early =
      post(unsynced.handler, "/validate", policyReview({.ns = "foo", .mode = "STRICT"}));
  CHECK(early.code() == 500);
  CHECK(early.outcome.error == AdmissionError::StateUnavailable);
  WebhookConfig config;
  config.max_staleness_seconds = 0;
  Webhook stale(kClusterYaml, config);
  const Reply late =
      post(stale.handler, "/validate", policyReview({.ns = "foo", .mode = "STRICT"}));
  CHECK(late.code() == 503);
  CHECK(late.outcome.error == AdmissionError::StateUnavailable);
  CHECK(toString(late.outcome.error) == "state_unavailable");
}

TEST_CASE("request faults carry a reason from their code, whatever the message says",
          "[admission]") {
  Webhook webhook;
  ReviewSpec pod;
  pod.kind = "Pod";
  pod.object = json::object();
  const Reply wrong_kind = post(webhook.handler, "/validate", review(pod));
  CHECK(wrong_kind.outcome.error == AdmissionError::BadRequest);
  const Reply not_json = post(webhook.handler, "/validate", "cluster state is not JSON");
  CHECK(not_json.outcome.error == AdmissionError::BadRequest);
  const Reply nowhere = post(webhook.handler, "/elsewhere", policyReview({.ns = "foo"}));
  CHECK(nowhere.outcome.error == AdmissionError::UnknownRoute);
  const Reply decided = post(webhook.handler, "/validate", policyReview({.ns = "foo"}));
  CHECK(decided.outcome.error == AdmissionError::None);
  CHECK(toString(AdmissionError::None).empty());
}

TEST_CASE("removing the injection label under a STRICT policy is denied", "[admission]") {
  Webhook webhook(withFooStrict());
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "Namespace";
  spec.resource = "namespaces";
  spec.operation = "UPDATE";
  spec.ns = "foo";
  spec.name = "foo";
  spec.object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "foo"}}}};
  spec.old_object = spec.object;
  spec.old_object["metadata"]["labels"] = {{"istio-injection", "enabled"}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains("[PG0102]") && Contains("foo/httpbin"));
  CHECK(reply.outcome.kind == "Namespace");
}

TEST_CASE("a DestinationRule sending plaintext to STRICT workloads is denied", "[admission]") {
  Webhook webhook(withFooStrict());
  ReviewSpec spec;
  spec.group = "networking.istio.io";
  spec.kind = "DestinationRule";
  spec.resource = "destinationrules";
  spec.ns = "foo";
  spec.name = "httpbin";
  spec.object = {{"apiVersion", "networking.istio.io/v1"},
                 {"kind", "DestinationRule"},
                 {"metadata", {{"name", "httpbin"}, {"namespace", "foo"}}},
                 {"spec",
                  {{"host", "httpbin.foo.svc.cluster.local"},
                   {"trafficPolicy", {{"tls", {{"mode", "DISABLE"}}}}}}}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains("[PG0110]"));
}

TEST_CASE("deleting a namespace deletes what is in it, without a false alarm", "[admission]") {
  Webhook webhook(withFooStrict());
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "Namespace";
  spec.resource = "namespaces";
  spec.operation = "DELETE";
  spec.ns = "foo";
  spec.name = "foo";
  spec.old_object = {{"apiVersion", "v1"},
                     {"kind", "Namespace"},
                     {"metadata", {{"name", "foo"}, {"labels", {{"istio-injection", "enabled"}}}}}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
}

TEST_CASE("before the first sync every review is refused with 500", "[admission]") {
  Webhook webhook("");
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "foo", .mode = "STRICT"}));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 500);
  CHECK(reply.response["status"]["reason"] == "InternalError");
  CHECK_THAT(reply.message(), Contains("not synced"));
  CHECK(reply.outcome.errored());
}

TEST_CASE("an object the decoder refuses is denied with 400 naming the field", "[admission]") {
  Webhook webhook;
  json object = peerAuthentication({.ns = "foo"});
  object["spec"]["mtls"] = 5;
  ReviewSpec spec;
  spec.ns = "foo";
  spec.name = "default";
  spec.object = object;
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK(reply.response["status"]["reason"] == "BadRequest");
  CHECK_THAT(reply.message(), Contains("spec.mtls"));
}

TEST_CASE("an object that disagrees with request.kind is refused", "[admission]") {
  Webhook webhook;
  ReviewSpec spec;
  spec.ns = "foo";
  spec.name = "x";
  spec.object = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("ConfigMap"));
}

TEST_CASE("a kind /validate does not handle is a clear error", "[admission]") {
  Webhook webhook;
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "ConfigMap";
  spec.ns = "foo";
  spec.name = "x";
  spec.object = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  CHECK(reply.http_status == 200);
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("ConfigMap"));
  CHECK(reply.outcome.errored());
}

TEST_CASE("a CREATE with generateName is checked under a stand-in name", "[admission]") {
  Webhook webhook;
  json object = peerAuthentication({.ns = "foo", .mode = "STRICT"});
  object["metadata"].erase("name");
  object["metadata"]["generateName"] = "strict-";
  ReviewSpec spec;
  spec.ns = "foo";
  spec.object = object;
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
}

// ---- The part of the state a review plans on ----

TEST_CASE("a change reaches its namespace, or everything when mesh-wide or wildcard",
          "[admission]") {
  const validation::MeshConfig mesh;
  Reach reach;
  reach.add(validation::ObjectRef{"PeerAuthentication", "foo", "default"}, mesh);
  reach.add(validation::ObjectRef{"Namespace", "", "bar"}, mesh);
  CHECK_FALSE(reach.everything);
  CHECK(reach.namespaces == std::set<std::string>{"foo", "bar"});
  reach.add(validation::ObjectRef{"PeerAuthentication", "istio-system", "default"}, mesh);
  CHECK(reach.everything);
  Reach unknown_host;
  unknown_host.add(validation::ObjectRef{"DestinationRule", "foo", "httpbin"}, mesh);
  CHECK(unknown_host.everything);
}

TEST_CASE("a DestinationRule reaches its namespace and the namespaces its host may name",
          "[admission]") {
  const validation::MeshConfig mesh;
  auto reachOf = [&](const std::string& host) {
    RequestObject object;
    validation::DestinationRule rule;
    rule.meta.name = "r";
    rule.meta.namespace_name = "client";
    rule.host = host;
    object.ref = rule.ref();
    object.inputs.destination_rules.push_back(rule);
    Reach reach;
    reach.add(object, mesh);
    return reach;
  };
  CHECK(reachOf("httpbin").namespaces == std::set<std::string>{"client", "httpbin"});
  CHECK(reachOf("httpbin.foo.svc.cluster.local").namespaces.count("foo"));
  CHECK(reachOf("httpbin.foo.svc.cluster.local").namespaces.count("client"));
  CHECK(reachOf("*.foo.svc.cluster.local").everything);
  CHECK(reachOf("*").everything);
}

TEST_CASE(
    "the inputs within reach are its namespaces, the root namespace and the rules naming "
    "them",
    "[admission]") {
  const auto snapshot = clusterFrom(withFooStrict() + R"(
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: v1
kind: Pod
metadata:
  name: httpbin-5c7f-abcde
  namespace: foo
  labels: {app: httpbin, pod-template-hash: 5c7f}
  ownerReferences: [{kind: ReplicaSet, name: httpbin-5c7f}]
spec: {containers: [{name: httpbin, image: httpbin}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: to-foo, namespace: bar}
spec: {host: httpbin.foo.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: to-legacy, namespace: bar}
spec: {host: billing.legacy.svc.cluster.local}
)");
  Reach reach;
  reach.namespaces = {"foo"};
  const validation::Inputs within = inputsWithin(*snapshot, reach);
  std::set<std::string> names;
  for (const auto& w : within.workloads) names.insert(w.meta.namespace_name + "/" + w.meta.name);
  CHECK(names == std::set<std::string>{"foo/httpbin", "foo/curl", "foo/httpbin-5c7f-abcde"});
  REQUIRE(within.peer_authentications.size() == 2);  // foo's and the mesh-wide one
  REQUIRE(within.namespaces.size() == 2);            // foo and istio-system
  REQUIRE(within.services.size() == 1);
  REQUIRE(within.destination_rules.size() == 1);
  CHECK(within.destination_rules[0].meta.name == "to-foo");
  reach.everything = true;
  CHECK(inputsWithin(*snapshot, reach).workloads.size() == snapshot->inputs().workloads.size());
}

RequestObject policyObject(const std::string& yaml) {
  validation::Inputs inputs;
  REQUIRE(validation::decodeInto(yaml, "request.yaml", inputs).ok());
  REQUIRE(inputs.peer_authentications.size() == 1);
  RequestObject object;
  object.ref = inputs.peer_authentications[0].ref();
  object.inputs = std::move(inputs);
  return object;
}

// "PG0102|PeerAuthentication|legacy|default|spec.mtls.mode: <message>" per introduced finding.
std::vector<std::string> introduced(const validation::Plan& plan) {
  std::vector<std::string> out;
  for (const auto& finding : plan.introduced) out.push_back(finding.key() + ": " + finding.message);
  return out;
}

// What /validate plans on: the snapshot's objects within reach, selected in place.
validation::Plan scopedPlan(const StateStore::Snapshot& snapshot, const RequestObject& object) {
  Reach reach;
  reach.add(object, snapshot->mesh());
  StateParts parts{selectionWithin(*snapshot, reach), {snapshot}};
  validation::ClusterState before(parts.objects, snapshot->mesh(), parts.owners);
  standForSnapshot(before, *snapshot, reach);
  putObject(parts, object, false);
  validation::ClusterState after(std::move(parts.objects), snapshot->mesh(),
                                 std::move(parts.owners));
  standForSnapshot(after, *snapshot, reach);
  return validation::plan(before, after);
}

// The reference: two whole-cluster states that own copies of everything.
validation::Plan fullPlan(const StateStore::Snapshot& snapshot, const RequestObject& object) {
  validation::Inputs changed = snapshot->inputs();
  auto& policies = changed.peer_authentications;
  const auto& policy = object.inputs.peer_authentications[0];
  const auto same = std::find_if(policies.begin(), policies.end(), [&](const auto& existing) {
    return existing.ref() == object.ref;
  });
  if (same == policies.end()) {
    policies.push_back(policy);
  } else {
    *same = policy;
  }
  return validation::plan(validation::ClusterState(validation::Inputs(snapshot->inputs())),
                          validation::ClusterState(std::move(changed)));
}

TEST_CASE("the scoped plan over the snapshot's objects finds what the whole-cluster plan finds",
          "[admission]") {
  const auto snapshot = clusterFrom(withFooStrict() + R"(
---
apiVersion: v1
kind: Service
metadata: {name: billing, namespace: legacy}
spec:
  selector: {app: billing}
  ports: [{name: http, port: 80, targetPort: 9000}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: to-httpbin, namespace: legacy}
spec: {host: httpbin.foo.svc.cluster.local, trafficPolicy: {tls: {mode: DISABLE}}}
)");
  const std::string header = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n";
  const auto [request, expected_code] = GENERATE(table<std::string, std::string>({
      // A change in legacy still meets legacy's workloads, which have no proxy.
      {"metadata: {name: default, namespace: legacy}\nspec: {mtls: {mode: STRICT}}", "PG0102"},
      {"metadata: {name: billing, namespace: legacy}\n"
       "spec: {selector: {matchLabels: {app: billing}}, mtls: {mode: STRICT}}",
       "PG0102"},
      // Replacing foo's STRICT policy weakens every workload of foo.
      {"metadata: {name: default, namespace: foo}\nspec: {mtls: {mode: PERMISSIVE}}", "PG0201"},
      {"metadata: {name: httpbin, namespace: foo}\n"
       "spec: {selector: {matchLabels: {app: httpbin}}, mtls: {mode: DISABLE}}",
       "PG0201"},
      {"metadata: {name: second, namespace: foo}\nspec: {mtls: {mode: STRICT}}", "PG0104"},
      {"metadata: {name: default, namespace: foo}\nspec: {mtls: {mode: STRICT}}", ""},
      // bar's workloads all have proxies, but legacy's (outside the review's scope) do not and
      // could be bar's clients.
      {"metadata: {name: default, namespace: bar}\nspec: {mtls: {mode: STRICT}}", "PG0115"},
  }));
  CAPTURE(request);
  const RequestObject object = policyObject(header + request);
  const std::vector<std::string> scoped = introduced(scopedPlan(snapshot, object));
  CHECK(scoped == introduced(fullPlan(snapshot, object)));
  if (expected_code.empty()) {
    CHECK(scoped.empty());
  } else {
    CHECK_THAT(scoped.empty() ? "" : scoped.front(), Catch::StartsWith(expected_code));
  }
}

TEST_CASE(
    "a namespace losing its proxies under a mesh-wide STRICT policy is denied even when "
    "other namespaces already break",
    "[admission]") {
  Webhook webhook(std::string(kClusterYaml) + R"(
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system, creationTimestamp: "2026-01-01T00:00:00Z"}
spec: {mtls: {mode: STRICT}}
)");  // legacy already has no proxies: the mesh policy's PG0102 exists before the change
  ReviewSpec spec;
  spec.group = "";
  spec.kind = "Namespace";
  spec.resource = "namespaces";
  spec.operation = "UPDATE";
  spec.ns = "bar";
  spec.name = "bar";
  spec.object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "bar"}}}};
  spec.old_object = spec.object;
  spec.old_object["metadata"]["labels"] = {{"istio-injection", "enabled"}};
  const Reply reply = post(webhook.handler, "/validate", review(spec));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains("[PG0102]") && Contains("bar/httpbin"));
  CHECK_THAT(reply.message(), !Contains("legacy/billing"));
}

}  // namespace
}  // namespace peergate::webhook::testing

namespace peergate::webhook::testing {
namespace {

using Catch::Contains;

WebhookConfig staleAfterZeroSeconds(bool fail_open) {
  WebhookConfig config;
  config.max_staleness_seconds = 0;  // any age is too old
  config.fail_open_when_stale = fail_open;
  return config;
}

TEST_CASE("on stale cluster state /validate refuses with 503 rather than guess", "[admission]") {
  Webhook webhook(kClusterYaml, staleAfterZeroSeconds(false));
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "legacy", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 503);
  CHECK_THAT(reply.message(), Contains("cluster state is stale"));
  CHECK(reply.outcome.errored());
}

TEST_CASE("failOpenWhenStale admits unchecked, with a warning saying so", "[admission]") {
  Webhook webhook(kClusterYaml, staleAfterZeroSeconds(true));
  const Reply reply =
      post(webhook.handler, "/validate", policyReview({.ns = "legacy", .mode = "STRICT"}));
  INFO(reply.body.dump());
  CHECK(reply.allowed());
  CHECK_THAT(reply.warnings(), Contains("admitted this unchecked"));
}

}  // namespace
}  // namespace peergate::webhook::testing
