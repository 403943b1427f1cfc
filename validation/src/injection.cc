#include "peergate/validation/injection.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace peergate::validation {
namespace {

constexpr std::array<std::string_view, 4> kNeverInjectNamespaces = {
    "kube-system", "kube-public", "kube-node-lease", "local-path-storage"};
constexpr std::array<std::string_view, 2> kProxyContainerNames = {"istio-proxy", "peergate-proxy"};

// Keys as std::string, the key type of Labels: a lookup copies no key (these are longer than
// the small-string buffer, so each copy was an allocation, several per workload and decision).
const std::string kInjectLabel = "sidecar.istio.io/inject";
const std::string kInjectionNamespaceLabel = "istio-injection";
const std::string kRevisionLabel = "istio.io/rev";
const std::string kDataplaneModeLabel = "istio.io/dataplane-mode";
const std::string kSidecarStatusAnnotation = "sidecar.istio.io/status";

const std::string* find(const Labels& labels, const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool isNeverInjectNamespace(const std::string& name) {
  return contains(kNeverInjectNamespaces, name);
}

// Which of Istio's injector webhooks would be called for this pod (spec §4, webhook selection).
// Returns the reason, or "" when no webhook fires.
std::string webhookThatFires(const Labels& pod_labels, const Labels& ns_labels,
                             const std::string& ns_name, const MeshConfig& mesh) {
  const std::string* pod_inject = find(pod_labels, kInjectLabel);
  const bool pod_says_false = pod_inject && *pod_inject == "false";
  if (const std::string* injection = find(ns_labels, kInjectionNamespaceLabel)) {
    if (*injection != "enabled") return "";
    return pod_says_false ? "" : "namespace label istio-injection=enabled";
  }
  if (const std::string* rev = find(ns_labels, kRevisionLabel); rev && !rev->empty()) {
    return pod_says_false ? "" : "namespace label istio.io/rev=" + *rev;
  }
  const std::string* pod_rev = find(pod_labels, kRevisionLabel);
  if (pod_inject && *pod_inject == "true" && !pod_rev)
    return "pod label sidecar.istio.io/inject=true";
  if (pod_rev && !pod_says_false) return "pod label istio.io/rev=" + *pod_rev;
  if (mesh.enable_namespaces_by_default && !pod_inject && !pod_rev &&
      !isNeverInjectNamespace(ns_name)) {
    return "enableNamespacesByDefault";
  }
  return "";
}

// injectRequired (spec §4): the decision inside the webhook once it is called.
bool injectRequired(const Workload& workload, const MeshConfig& mesh) {
  // Istio logs an unknown policy as an error and then never injects, whatever the pod says.
  if (mesh.auto_inject_policy != "enabled" && mesh.auto_inject_policy != "disabled") return false;
  const std::string* value = find(workload.pod_labels, kInjectLabel);
  if (!value) value = find(workload.pod_annotations, kInjectLabel);
  if (value && *value == "true") return true;
  if (value && *value == "false") return false;
  return mesh.auto_inject_policy == "enabled";
}

bool ambientEnrolled(const Workload& workload, const Labels& ns_labels, const std::string& ns) {
  if (workload.spec.host_network || ns == "kube-system") return false;
  if (find(workload.pod_annotations, kSidecarStatusAnnotation)) return false;
  if (const std::string* app = find(workload.pod_labels, "app"); app && *app == "ztunnel") {
    return false;
  }
  const std::string* pod_mode = find(workload.pod_labels, kDataplaneModeLabel);
  if (pod_mode && *pod_mode == "ambient") return true;
  const std::string* ns_mode = find(ns_labels, kDataplaneModeLabel);
  // In an ambient namespace only the pod label value `none` opts out.
  return ns_mode && *ns_mode == "ambient" && !(pod_mode && *pod_mode == "none");
}

}  // namespace

bool isSystemNamespace(const std::string& name, const MeshConfig& mesh) {
  return isNeverInjectNamespace(name) || name == mesh.root_namespace || name == "peergate-system";
}

bool hasProxyContainer(const PodSpecSummary& spec) {
  auto is_proxy = [](const std::string& name) { return contains(kProxyContainerNames, name); };
  return std::any_of(spec.containers.begin(), spec.containers.end(), is_proxy) ||
         std::any_of(spec.init_containers.begin(), spec.init_containers.end(), is_proxy);
}

DataplaneDecision decideDataplane(const Workload& workload, const Namespace* ns,
                                  const MeshConfig& mesh) {
  static const Labels kNoLabels;
  const Labels& ns_labels = ns ? ns->meta.labels : kNoLabels;
  const std::string& ns_name = workload.meta.namespace_name;
  DataplaneDecision decision;
  if (hasProxyContainer(workload.spec) ||
      find(workload.pod_annotations, kSidecarStatusAnnotation)) {
    decision.sidecar = decision.injected_now = true;
    decision.reason = "has a proxy container";
    return decision;
  }
  if (workload.is_live) {
    decision.reason = "running pod has no proxy (injection happens only when a pod is created)";
  } else if (workload.spec.host_network) {
    decision.reason = "hostNetwork pods are never injected";
  } else if (isNeverInjectNamespace(ns_name)) {
    decision.reason = "namespace " + ns_name + " is never injected";
  } else if (std::string fired = webhookThatFires(workload.pod_labels, ns_labels, ns_name, mesh);
             fired.empty()) {
    decision.reason = "no injection label selects it";
  } else if (!injectRequired(workload, mesh)) {
    decision.reason = "injection opted out (sidecar.istio.io/inject)";
  } else {
    decision.sidecar = true;
    decision.reason = "will be injected: " + fired;
    return decision;
  }
  if (ambientEnrolled(workload, ns_labels, ns_name)) {
    decision.ambient = true;
    decision.reason = "ambient (istio.io/dataplane-mode=ambient)";
  }
  return decision;
}

}  // namespace peergate::validation
