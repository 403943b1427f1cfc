#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "peergate/validation/model.h"
#include "peergate/validation/result.h"
#include "peergate/webhook/config.h"

namespace peergate::webhook {

// What injection did to a pod (AdmissionOutcome::injection and the injections metric use
// toString: "sidecar", "ambient", "skipped").
enum class InjectionMode { Sidecar, Ambient, Skipped };
std::string_view toString(InjectionMode mode);

// How a pod is selected for injection.
enum class InjectionSelection {
  // The webhook: Istio's webhook selection and injectRequired on the namespace's and the pod's
  // labels (validation::decideDataplane, the same decision `peergate check` makes).
  Cluster,
  // `peergate inject`, like `istioctl kube-inject`: the namespace is taken as
  // `istio-injection=enabled` unless it (or the pod) says otherwise with istio-injection,
  // istio.io/rev or istio.io/dataplane-mode. Explicit opt-outs, hostNetwork and the system
  // namespaces are still skipped.
  Offline,
};

// Where the pod is being created.
struct PodContext {
  // The admission request's namespace (a pod being created may lack metadata.namespace);
  // "" falls back to metadata.namespace, then "default".
  std::string namespace_name;
  // The pod's Namespace (its labels select injection); null when unknown.
  const validation::Namespace* ns = nullptr;
  // The controller's name when the pod is a Deployment's (etc.) template; "" derives the
  // workload name from the pod (owner ReplicaSet minus pod-template-hash, generateName, name).
  std::string workload_name;
  InjectionSelection selection = InjectionSelection::Cluster;
};

struct Injection {
  InjectionMode mode = InjectionMode::Skipped;
  // The dataplane decision ("will be injected: namespace label istio-injection=enabled") or why
  // the pod was skipped ("hostNetwork pods are never injected").
  std::string reason;
  // The pod after injection; the input unchanged when skipped.
  nlohmann::json pod;
  // RFC 6902 operations that turn the input into `pod` (empty when nothing changes). For an
  // AdmissionResponse: patchType "JSONPatch", patch = base64(patch.dump()).
  nlohmann::json patch = nlohmann::json::array();
};

// Injects one Pod (or a pod template: an object with metadata and spec). Pure and thread-safe.
// Sidecar mode adds peergate-init and peergate-proxy, volumes, labels and annotations and
// rewrites probes (spec/istio-rules.md §4); ambient mode adds only the label
// istio.io/dataplane-mode=ambient (§5). A pod injected before is stripped of what its
// sidecar.istio.io/status annotation lists and injected again, so injection is idempotent.
// Errors (the webhook denies the pod, `peergate inject` exits 65), by Error::code:
//   inject.invalid_pod   the object is not a pod (no spec.containers, a container without name)
//   inject.annotation    invalid traffic/interception/status annotations, Istio's messages
//   inject.reserved_port an app container declares a port the proxy owns
//   inject.reserved_uid  an app container runs as the proxy's uid
// Error::document is -1 and Error::path names the field (e.g. "spec.containers[0].ports[1]").
validation::Result<Injection> injectPod(const nlohmann::json& pod, const PodContext& context,
                                        const validation::MeshConfig& mesh,
                                        const InjectionConfig& config);

}  // namespace peergate::webhook
