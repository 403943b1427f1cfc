#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/dataplane_policy.h"
#include "peergate/validation/result.h"

namespace peergate::proxy {

// The engine resolves a proxy's policy (validation/dataplane_policy.h); the local mode reads it
// from files, the control-plane mode from the policy feed.
using ProxyPolicy = validation::DataplanePolicy;
using ProxiedPeer = validation::ProxiedPeer;

inline validation::Result<ProxyPolicy> buildProxyPolicy(const validation::ClusterState& state,
                                                        const std::string& ns,
                                                        const std::string& name,
                                                        const std::string& trust_domain) {
  return validation::buildDataplanePolicy(state, ns, name, trust_domain);
}

// Reads FILE or every *.yaml|*.yml|*.json under DIR (sorted, hidden entries skipped, as the
// webhook's --cluster-state), decodes them with the engine's decoder and builds the policy.
// The first decode error fails the load: a half-written file must not open a port.
validation::Result<ProxyPolicy> loadProxyPolicy(const std::filesystem::path& path,
                                                const std::string& ns, const std::string& name,
                                                const std::string& trust_domain);

// "workload STRICT, 9000 DISABLE": the modes, for logs.
std::string describeModes(const ProxyPolicy& policy);

// The files loadProxyPolicy reads, for change detection.
std::vector<std::filesystem::path> clusterStateFiles(const std::filesystem::path& path);

}  // namespace peergate::proxy
