#pragma once

#include <optional>
#include <string>
#include <vector>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/model.h"

namespace peergate::validation {

enum class Scope { MeshDefault, Mesh, Namespace, Workload };
std::string_view toString(Scope scope);  // "mesh-default", "mesh", "namespace", "workload"

// The policy that decided a mode. For Scope::MeshDefault, `policy` is empty.
struct DecidedBy {
  ObjectRef policy;
  Scope scope = Scope::MeshDefault;
  std::string rule;  // "spec.mtls.mode", "spec.portLevelMtls.8080", "default PERMISSIVE"
};

struct ShadowedPolicy {
  ObjectRef policy;
  std::string reason;  // "older namespace-wide policy default.foo wins", "selector policy in root
                       // namespace is ignored"
};

struct PortPolicy {
  int64_t port = 0;
  Mode mode = Mode::Unset;
  DecidedBy decided_by;
  bool declared_by_container = false;  // a container exposes it
};

struct EffectivePolicy {
  const Workload* workload = nullptr;
  Mode mode = Mode::Permissive;  // workload-level mode
  DecidedBy decided_by;
  std::vector<ShadowedPolicy> shadowed;
  std::vector<PortPolicy> ports;  // container ports + ports in the deciding workload policy
  bool sidecar = false;
  bool ambient = false;
  // The policies that applied at each scope (nullptr when none), for analyzers.
  const PeerAuthentication* mesh_policy = nullptr;
  const PeerAuthentication* namespace_policy = nullptr;
  const PeerAuthentication* workload_policy = nullptr;
  // Other workload policies that also select this workload and are ignored (never merged).
  std::vector<const PeerAuthentication*> ignored_workload_policies;

  Mode modeForPort(int64_t port) const;
};

// Istio's ordering: creationTimestamp ascending (not-yet-created last), then name, then namespace.
bool olderThan(const PeerAuthentication& a, const PeerAuthentication& b);

// The scope Istio gives a policy; nullopt when Istio ignores it (selector in the root namespace).
std::optional<Scope> policyScope(const PeerAuthentication& policy, const MeshConfig& mesh);

EffectivePolicy resolveWorkload(const ClusterState& state, const Workload& workload);
// One entry per workload in state.workloads() order.
std::vector<EffectivePolicy> resolveAll(const ClusterState& state);

// The mode a namespace-level view gives (mesh then namespace policy), for namespaces that
// hold no workload in the input.
Mode resolveNamespaceMode(const ClusterState& state, const std::string& ns);

}  // namespace peergate::validation
