#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/model.h"
#include "peergate/validation/result.h"

namespace peergate::proxy {

// A destination that runs a proxy: outbound connections to it are mTLS, and its certificate must
// carry exactly this identity (secure naming).
struct ProxiedPeer {
  std::string spiffe_id;  // spiffe://<trust domain>/ns/<ns>/sa/<service account>
  std::string workload;   // "ns/name" of its workload
};

// What one proxy needs from the cluster state, copied out of it so the snapshot can go: the
// per-port inbound modes of its own workload, and which pod IPs have a proxy.
struct ProxyPolicy {
  std::string trust_domain;
  std::string pod_namespace;
  std::string pod_name;
  std::string workload_name;  // the controller the pod folds into (or the pod itself)
  validation::Mode workload_mode = validation::Mode::Permissive;
  std::map<int64_t, validation::Mode> port_modes;     // ports the resolution names explicitly
  std::map<std::string, ProxiedPeer> proxied_peers;   // by status.podIP
  std::map<std::string, std::string> workload_by_ip;  // every pod IP → "ns/name"

  // The resolved mode for an inbound (container) port; never Unset.
  validation::Mode modeForPort(int64_t port) const;
  // nullptr when `ip` is not a pod with a proxy.
  const ProxiedPeer* peerFor(const std::string& ip) const;
};

// Resolves the policy of pod `ns/name` with the engine. An empty `trust_domain` takes the mesh
// config's. Error "proxy.pod_not_found" when the state has no such Pod (nor workload).
validation::Result<ProxyPolicy> buildProxyPolicy(const validation::ClusterState& state,
                                                 const std::string& ns, const std::string& name,
                                                 const std::string& trust_domain);

// Reads FILE or every *.yaml|*.yml|*.json under DIR (sorted, hidden entries skipped, as the
// webhook's --cluster-state), decodes them with the engine's decoder and builds the policy.
// The first decode error fails the load: a half-written file must not open a port.
validation::Result<ProxyPolicy> loadProxyPolicy(const std::filesystem::path& path,
                                                const std::string& ns, const std::string& name,
                                                const std::string& trust_domain);

// The files loadProxyPolicy reads, for change detection.
std::vector<std::filesystem::path> clusterStateFiles(const std::filesystem::path& path);

}  // namespace peergate::proxy
