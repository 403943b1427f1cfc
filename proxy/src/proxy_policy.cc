#include "peergate/proxy/proxy_policy.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "peergate/validation/decode.h"
#include "peergate/validation/injection.h"
#include "peergate/validation/resolve.h"

namespace peergate::proxy {
namespace fs = std::filesystem;
using validation::ClusterState;
using validation::Error;
using validation::Mode;
using validation::Workload;

namespace {

Error loadError(std::string code, std::string file, std::string message) {
  Error error;
  error.code = std::move(code);
  error.file = std::move(file);
  error.message = std::move(message);
  return error;
}

bool isManifestName(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

// A ConfigMap volume's `..data` and timestamped directories would otherwise be read twice.
bool isHidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// The live Pod named `name`, else any workload of that name (a template, for laptop runs).
const Workload* findOwnWorkload(const ClusterState& state, const std::string& ns,
                                const std::string& name) {
  const Workload* fallback = nullptr;
  for (const Workload& workload : state.inputs().workloads) {
    if (workload.meta.namespace_name != ns || workload.meta.name != name) continue;
    if (workload.kind == "Pod") return &workload;
    if (fallback == nullptr) fallback = &workload;
  }
  return fallback;
}

// The workload a pod folds into (its Deployment, ...), or the pod itself.
const Workload* representativeOf(const ClusterState& state, const Workload& pod) {
  for (const Workload* workload : state.workloads()) {
    if (workload == &pod) return workload;
    const auto& instances = state.instancesOf(*workload);
    if (std::find(instances.begin(), instances.end(), &pod) != instances.end()) return workload;
  }
  return &pod;
}

std::string spiffeIdOf(const std::string& trust_domain, const Workload& pod) {
  return "spiffe://" + trust_domain + "/ns/" + pod.meta.namespace_name + "/sa/" +
         pod.spec.service_account;
}

// Every pod with an IP; those running a proxy container become mTLS destinations. A live pod's
// spec is the truth: "will be injected" says nothing about a pod that already runs.
void indexPeers(const ClusterState& state, ProxyPolicy& policy) {
  for (const Workload* workload : state.workloads()) {
    std::vector<const Workload*> pods = state.instancesOf(*workload);
    pods.push_back(workload);
    const std::string name = workload->meta.namespace_name + "/" + workload->meta.name;
    for (const Workload* pod : pods) {
      if (pod->pod_ip.empty()) continue;
      policy.workload_by_ip[pod->pod_ip] = name;
      const validation::Namespace* ns = state.findNamespace(pod->meta.namespace_name);
      if (!validation::decideDataplane(*pod, ns, state.mesh()).injected_now) continue;
      policy.proxied_peers[pod->pod_ip] = {spiffeIdOf(policy.trust_domain, *pod), name};
    }
  }
}

}  // namespace

Mode ProxyPolicy::modeForPort(int64_t port) const {
  auto it = port_modes.find(port);
  const Mode mode = it == port_modes.end() ? workload_mode : it->second;
  return mode == Mode::Unset ? Mode::Permissive : mode;
}

const ProxiedPeer* ProxyPolicy::peerFor(const std::string& ip) const {
  auto it = proxied_peers.find(ip);
  return it == proxied_peers.end() ? nullptr : &it->second;
}

validation::Result<ProxyPolicy> buildProxyPolicy(const ClusterState& state, const std::string& ns,
                                                 const std::string& name,
                                                 const std::string& trust_domain) {
  const Workload* own = findOwnWorkload(state, ns, name);
  if (own == nullptr) {
    return loadError("proxy.pod_not_found", "",
                     "pod " + ns + "/" + name +
                         " is not in the cluster state: add the Pod (with its labels and "
                         "serviceAccountName) or fix --pod");
  }
  ProxyPolicy policy;
  policy.trust_domain = trust_domain.empty() ? state.mesh().trust_domain : trust_domain;
  policy.pod_namespace = ns;
  policy.pod_name = name;
  policy.workload_name = representativeOf(state, *own)->meta.name;
  const validation::EffectivePolicy effective = validation::resolveWorkload(state, *own);
  policy.workload_mode = effective.mode;
  for (const validation::PortPolicy& port : effective.ports) {
    policy.port_modes[port.port] = port.mode;
  }
  indexPeers(state, policy);
  return policy;
}

std::vector<fs::path> clusterStateFiles(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return {path};
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (isHidden(it->path())) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(error) && isManifestName(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

validation::Result<ProxyPolicy> loadProxyPolicy(const fs::path& path, const std::string& ns,
                                                const std::string& name,
                                                const std::string& trust_domain) {
  validation::Inputs inputs;
  for (const fs::path& file : clusterStateFiles(path)) {
    std::ifstream stream(file, std::ios::binary);
    std::ostringstream text;
    text << stream.rdbuf();
    if (!stream || stream.bad()) {
      return loadError("io.read", file.generic_string(), "cannot read the cluster state file");
    }
    const validation::DecodeOutcome outcome =
        validation::decodeInto(text.str(), file.generic_string(), inputs);
    if (!outcome.ok()) return outcome.errors.front();
  }
  const ClusterState state(std::move(inputs));
  return buildProxyPolicy(state, ns, name, trust_domain);
}

}  // namespace peergate::proxy
