#pragma once

// Builders for admission tests: a cluster state from YAML, AdmissionReview bodies as the API
// server sends them, and the replies read back as JSON.

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook::testing {

using nlohmann::json;

// foo and bar are injected, legacy is not; every namespace has Deployments.
constexpr std::string_view kClusterYaml = R"(apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bar, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      containers: [{name: httpbin, image: httpbin, ports: [{containerPort: 8000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: curl, namespace: foo}
spec:
  selector: {matchLabels: {app: curl}}
  template:
    metadata: {labels: {app: curl}}
    spec:
      containers: [{name: curl, image: curl}]
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {app: httpbin}
  ports: [{name: http, port: 8000, targetPort: 8000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: bar}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec:
      containers: [{name: httpbin, image: httpbin, ports: [{containerPort: 8000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: billing, namespace: legacy}
spec:
  selector: {matchLabels: {app: billing}}
  template:
    metadata: {labels: {app: billing}}
    spec:
      containers: [{name: billing, image: billing, ports: [{containerPort: 9000}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: legacy}
spec:
  selector: {matchLabels: {app: ledger}}
  template:
    metadata: {labels: {app: ledger}}
    spec:
      containers: [{name: ledger, image: ledger}]
)";

// A namespace-wide STRICT policy on foo, created long ago.
constexpr std::string_view kFooStrictYaml = R"(
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo, creationTimestamp: "2026-01-05T10:00:00Z"}
spec: {mtls: {mode: STRICT}}
)";

inline std::shared_ptr<const validation::ClusterState> clusterFrom(std::string_view yaml) {
  validation::Inputs inputs;
  const validation::DecodeOutcome outcome = validation::decodeInto(yaml, "cluster.yaml", inputs);
  std::string errors;
  for (const auto& error : outcome.errors) errors += error.describe() + "\n";
  INFO(errors);
  REQUIRE(outcome.ok());
  return std::make_shared<const validation::ClusterState>(std::move(inputs));
}

// A handler over a published cluster state (none when `yaml` is empty: not synced).
struct Webhook {
  explicit Webhook(std::string_view yaml = kClusterYaml, WebhookConfig config = {})
      : handler(store, std::move(config)) {
    if (!yaml.empty()) store.publish(clusterFrom(yaml));
  }
  StateStore store;
  AdmissionHandler handler;
};

inline std::string withFooStrict() {
  return std::string(kClusterYaml) + std::string(kFooStrictYaml);
}

struct PolicyObject {
  std::string ns = "";
  std::string name = "default";
  std::string mode = "";           // "" leaves spec.mtls out
  json selector = nullptr;         // matchLabels
  json annotations = nullptr;      // metadata.annotations
  std::string created = "";        // metadata.creationTimestamp
  json port_level_mtls = nullptr;  // spec.portLevelMtls
};

inline json peerAuthentication(const PolicyObject& p) {
  json object = {{"apiVersion", "security.istio.io/v1"},
                 {"kind", "PeerAuthentication"},
                 {"metadata", {{"name", p.name}, {"namespace", p.ns}}},
                 {"spec", json::object()}};
  if (!p.annotations.is_null()) object["metadata"]["annotations"] = p.annotations;
  if (!p.created.empty()) object["metadata"]["creationTimestamp"] = p.created;
  if (!p.mode.empty()) object["spec"]["mtls"] = {{"mode", p.mode}};
  if (!p.selector.is_null()) object["spec"]["selector"] = {{"matchLabels", p.selector}};
  if (!p.port_level_mtls.is_null()) object["spec"]["portLevelMtls"] = p.port_level_mtls;
  return object;
}

struct ReviewSpec {
  std::string api_version = "admission.k8s.io/v1";
  std::string uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
  std::string group = "security.istio.io";
  std::string version = "v1";
  std::string kind = "PeerAuthentication";
  std::string resource = "peerauthentications";
  std::string operation = "CREATE";
  std::string ns;
  std::string name;
  json object = nullptr;
  json old_object = nullptr;
  bool dry_run = false;
};

// An AdmissionReview request exactly as the API server writes it (nulls included).
inline std::string review(const ReviewSpec& spec) {
  const json kind = {{"group", spec.group}, {"version", spec.version}, {"kind", spec.kind}};
  const json resource = {
      {"group", spec.group}, {"version", spec.version}, {"resource", spec.resource}};
  const json request = {
      {"uid", spec.uid},
      {"kind", kind},
      {"resource", resource},
      {"subResource", ""},
      {"requestKind", kind},
      {"requestResource", resource},
      {"name", spec.name},
      {"namespace", spec.ns},
      {"operation", spec.operation},
      {"userInfo",
       {{"username", "alice"}, {"uid", "014fbff9a07c"}, {"groups", {"system:authenticated"}}}},
      {"object", spec.object},
      {"oldObject", spec.old_object},
      {"dryRun", spec.dry_run},
      {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}};
  return json{{"apiVersion", spec.api_version}, {"kind", "AdmissionReview"}, {"request", request}}
      .dump();
}

// A review for a PeerAuthentication: CREATE and UPDATE carry `object`, DELETE `old_object`.
inline std::string policyReview(const PolicyObject& policy, std::string operation = "CREATE",
                                json old_object = nullptr) {
  ReviewSpec spec;
  spec.operation = std::move(operation);
  spec.ns = policy.ns;
  spec.name = policy.name;
  if (spec.operation == "DELETE") {
    spec.old_object = peerAuthentication(policy);
  } else {
    spec.object = peerAuthentication(policy);
    spec.old_object = std::move(old_object);
  }
  return review(spec);
}

struct Reply {
  int http_status = 0;
  json body;
  json response;  // body["response"], or null
  AdmissionOutcome outcome;

  bool allowed() const { return response.value("allowed", false); }
  std::string message() const {
    return response.contains("status") ? response["status"].value("message", "") : "";
  }
  int code() const { return response.contains("status") ? response["status"].value("code", 0) : 0; }
  std::string warnings() const {
    return response.contains("warnings") ? response["warnings"].dump() : "[]";
  }
};

inline Reply post(const AdmissionHandler& handler, std::string_view route, std::string_view body,
                  std::string_view content_type = "application/json") {
  AdmissionReply raw = handler.handle(route, content_type, body);
  Reply reply;
  reply.http_status = raw.http_status;
  reply.body = json::parse(raw.body, nullptr, false);
  INFO(raw.body);
  REQUIRE_FALSE(reply.body.is_discarded());
  if (reply.body.contains("response")) reply.response = reply.body["response"];
  reply.outcome = std::move(raw.outcome);
  return reply;
}

inline std::string base64Decode(std::string_view text) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char c : text) {
    const auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) continue;  // '=' padding
    bits = (bits << 6) | static_cast<unsigned>(index);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFFu);
    }
  }
  return out;
}

// The reply's patch as a JSON array of operations (null when there is none).
inline json patchOf(const Reply& reply) {
  if (!reply.response.contains("patch")) return nullptr;
  CHECK(reply.response.value("patchType", "") == "JSONPatch");
  return json::parse(base64Decode(reply.response["patch"].get<std::string>()));
}

}  // namespace peergate::webhook::testing
