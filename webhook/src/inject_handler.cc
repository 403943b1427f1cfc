// POST /inject: Pod CREATE through the injector (injector.h). The verdict is always "allowed"
// unless the pod carries annotations Istio would refuse; the injection travels as a JSONPatch.

#include <string>
#include <utility>

#include "admission_review.h"
#include "json_patch.h"
#include "peergate/webhook/injector.h"

namespace peergate::webhook {
namespace {

std::optional<AdmissionResponse> checkRequest(const AdmissionRequest& request) {
  if (request.kind.kind != "Pod") {
    return errorResponse(400, "/inject handles Pod only, not \"" + request.kind.kind +
                                  "\"; check the mutating webhook's rules");
  }
  if (!request.object.is_object()) {
    return errorResponse(400,
                         "request.object is missing or not an object for " + request.operation);
  }
  return std::nullopt;
}

std::string podName(const AdmissionRequest& request) {
  if (!request.name.empty()) return request.name;
  const nlohmann::json& meta = request.object.value("metadata", nlohmann::json::object());
  if (!meta.is_object()) return "";
  if (meta.contains("name") && meta["name"].is_string()) return meta["name"];
  if (meta.contains("generateName") && meta["generateName"].is_string()) {
    return meta["generateName"].get<std::string>() + "*";
  }
  return "";
}

// Istio's injector answers an unusable pod with allowed=false and the error as the message.
AdmissionResponse refusal(const validation::Error& error) {
  std::string message = "peergate cannot inject this pod: " + error.message;
  if (!error.path.empty()) message += " (at " + error.path + ")";
  return denyResponse(400, std::move(message));
}

constexpr std::string_view kSkippedAnnotation = "peergate.io/injection-skipped";

// Adds `key: value` to the pod's annotations, creating the map (or metadata) when missing.
JsonPatch annotate(const nlohmann::json& pod, std::string_view key, const std::string& value) {
  JsonPatch patch;
  const auto meta = pod.find("metadata");
  if (meta == pod.end() || !meta->is_object()) {
    patch.add("/metadata", {{"annotations", {{key, value}}}});
  } else if (!meta->contains("annotations") || !(*meta)["annotations"].is_object()) {
    patch.add(jsonPointer({"metadata", "annotations"}), {{key, value}});
  } else {
    patch.add(jsonPointer({"metadata", "annotations", key}), value);
  }
  return patch;
}

// The namespace labels that select sidecar, ambient or nothing come from the snapshot, so stale
// state could inject where the namespace opted out or skip where it opted in. Fail closed
// refuses (the API server retries the pod); fail open admits the pod uninjected, never on a
// guess, and marks it so it can be found and recreated once peergate is fresh again.
AdmissionResponse staleInjection(const AdmissionContext& context, const AdmissionRequest& request,
                                 const std::string& staleness, AdmissionOutcome& outcome) {
  if (!context.config.fail_open_when_stale) return staleRefusal(staleness);
  outcome.injection = "stale";
  const std::string why = staleness + "; recreate the pod once peergate is ready";
  AdmissionResponse response = allowResponse();
  response.warnings.push_back("peergate did not inject this pod: " + why);
  response.patch = annotate(request.object, kSkippedAnnotation, why).ops();
  return response;
}

}  // namespace

AdmissionResponse injectAdmission(const AdmissionContext& context, const AdmissionRequest& request,
                                  AdmissionOutcome& outcome) {
  // Istio injects on CREATE only; an UPDATE cannot add containers to a running pod.
  if (request.operation != "CREATE") {
    outcome.injection = "skipped";
    return allowResponse();
  }
  if (auto problem = checkRequest(request)) return *problem;
  outcome.name = podName(request);
  std::optional<AdmissionResponse> unavailable;
  const StateStore::Snapshot snapshot = currentState(context, unavailable);
  if (!snapshot) return *unavailable;
  if (const auto stale = staleness(context)) {
    return staleInjection(context, request, *stale, outcome);
  }
  PodContext pod;
  pod.namespace_name = request.namespace_name;
  pod.ns = snapshot->findNamespace(request.namespace_name);
  pod.selection = InjectionSelection::Cluster;
  validation::Result<Injection> injected =
      injectPod(request.object, pod, snapshot->mesh(), context.config.injection);
  if (!injected) {
    outcome.injection = "skipped";
    return refusal(injected.error());
  }
  outcome.injection = std::string(toString(injected.value().mode));
  AdmissionResponse response = allowResponse();
  response.patch = std::move(injected.value().patch);
  return response;
}

}  // namespace peergate::webhook
