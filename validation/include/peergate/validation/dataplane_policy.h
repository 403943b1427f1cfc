#pragma once

// What one proxy needs from the cluster state, resolved by the engine and copied out of it so the
// snapshot can go: the per-port inbound modes of its own workload and which pod IPs run a proxy
// (and the identity each must present). The local-mode proxy builds it from files; the control
// plane builds it from its live state and serves it on the policy feed as JSON.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/model.h"
#include "peergate/validation/result.h"

namespace peergate::validation {

// A destination that runs a proxy: outbound connections to it are mTLS, and its certificate must
// carry exactly this identity (secure naming).
struct ProxiedPeer {
  std::string spiffe_id;  // spiffe://<trust domain>/ns/<ns>/sa/<service account>
  std::string workload;   // "ns/name" of its workload
  bool operator==(const ProxiedPeer&) const = default;
};

// Every pod IP of a snapshot, and those that run a proxy. Shared by every proxy's policy: it
// does not depend on who asks.
struct PeerIndex {
  // Keyed by canonical IP (ip_address.h): status.podIP and every status.podIPs entry.
  std::map<std::string, ProxiedPeer> proxied_peers;
  std::map<std::string, std::string> workload_by_ip;  // every pod IP → "ns/name"
  bool operator==(const PeerIndex&) const = default;
};

struct DataplanePolicy {
  std::string trust_domain;
  std::string pod_namespace;
  std::string pod_name;
  std::string service_account;  // of the pod, as the state has it ("" = default)
  std::string workload_name;    // the controller the pod folds into (or the pod itself)
  Mode workload_mode = Mode::Permissive;
  std::map<int64_t, Mode> port_modes;  // ports the resolution names explicitly
  std::shared_ptr<const PeerIndex> peers = std::make_shared<const PeerIndex>();

  // The resolved mode for an inbound (container) port; never Unset.
  Mode modeForPort(int64_t port) const;
  // nullptr when `ip` is not a pod with a proxy. Any spelling of the address finds it
  // ("fd00:0::5", "::ffff:10.0.0.5").
  const ProxiedPeer* peerFor(const std::string& ip) const;
  // "ns/name" of the workload that has `ip` (any spelling); "" when unknown.
  std::string workloadAt(const std::string& ip) const;
};

// The peers of `state` with identities in `trust_domain`. A live pod's spec is the truth:
// "will be injected" says nothing about a pod that already runs.
PeerIndex indexPeers(const ClusterState& state, const std::string& trust_domain);

// Resolves the policy of pod `ns/name` (the live Pod, else a workload of that name, for laptop
// runs) with `peers` attached. An empty `trust_domain` takes the mesh config's. Error
// "proxy.pod_not_found" when the state has no such Pod (nor workload).
Result<DataplanePolicy> resolveDataplanePolicy(const ClusterState& state, const std::string& ns,
                                               const std::string& name,
                                               const std::string& trust_domain,
                                               std::shared_ptr<const PeerIndex> peers);
// The same, indexing the peers of `state` for this one call.
Result<DataplanePolicy> buildDataplanePolicy(const ClusterState& state, const std::string& ns,
                                             const std::string& name,
                                             const std::string& trust_domain);

// The policy feed's wire form: {"trustDomain", "pod": {"namespace", "name", "serviceAccount"},
// "workload", "mode", "ports": {"<port>": "<MODE>"}, "peers": [{"ip", "spiffeId", "workload"}],
// "workloads": {"<ip>": "ns/name"}} — workloads lists only the IPs without a proxy.
nlohmann::json ownPolicyToJson(const DataplanePolicy& policy);
nlohmann::json peersToJson(const PeerIndex& peers);
// Error "feed.decode" naming the bad field.
Result<DataplanePolicy> dataplanePolicyFromJson(const nlohmann::json& json);

}  // namespace peergate::validation
