// Drives AdmissionHandler with arbitrary bodies on /validate and /mutate, over a small cluster.
// Whatever the body, the handler must answer (never crash, hang or throw) with a well-formed
// AdmissionReview: uid echoed (HTTP 200) or none readable (HTTP 400), a status on every
// denial, one-line messages, short warnings, and no patch from /validate.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/state_store.h"

namespace {

using nlohmann::json;
using peergate::webhook::AdmissionHandler;
using peergate::webhook::AdmissionReply;

constexpr std::string_view kCluster = R"(apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  template:
    metadata: {labels: {app: httpbin}}
    spec: {containers: [{name: httpbin, image: httpbin, ports: [{containerPort: 8000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: billing, namespace: legacy}
spec:
  selector: {matchLabels: {app: billing}}
  template:
    metadata: {labels: {app: billing}}
    spec: {containers: [{name: billing, image: billing}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: foo, creationTimestamp: "2026-01-05T10:00:00Z"}
spec: {mtls: {mode: STRICT}}
)";

struct Webhook {
  Webhook() : handler(store, {}) {
    peergate::validation::Inputs inputs;
    peergate::validation::decodeInto(kCluster, "cluster.yaml", inputs);
    store.publish(std::make_shared<const peergate::validation::ClusterState>(std::move(inputs)));
  }
  peergate::webhook::StateStore store;
  AdmissionHandler handler;
};

void require(bool condition) {
  if (!condition) __builtin_trap();
}

std::size_t runes(const std::string& text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

void checkStatus(const json& response) {
  const json& status = response.at("status");
  require(status.at("code").get<int>() >= 400);
  const std::string message = status.at("message").get<std::string>();
  require(!message.empty() && message.size() <= 1024);
  require(message.find('\n') == std::string::npos);
}

void checkReply(const AdmissionReply& reply, std::string_view route) {
  const json body = json::parse(reply.body);  // throws (and fails the run) if not JSON
  const std::string api_version = body.at("apiVersion").get<std::string>();
  require(api_version == "admission.k8s.io/v1" || api_version == "admission.k8s.io/v1beta1");
  require(body.at("kind") == "AdmissionReview");
  const json& response = body.at("response");
  const std::string uid = response.at("uid").get<std::string>();
  require(reply.http_status == (uid.empty() ? 400 : 200));
  require(uid == reply.outcome.uid);
  const bool allowed = response.at("allowed").get<bool>();
  require(allowed == reply.outcome.allowed);
  if (!allowed) checkStatus(response);
  if (!allowed || route == "/validate") require(!response.contains("patch"));
  require(response.contains("patch") == response.contains("patchType"));
  for (const json& warning : response.value("warnings", json::array())) {
    const std::string text = warning.get<std::string>();
    require(!text.empty() && runes(text) <= 120);
    require(text.find('\n') == std::string::npos);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Webhook webhook;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view route : {"/validate", "/mutate"}) {
    checkReply(webhook.handler.handle(route, "application/json", body), route);
  }
  return 0;
}
