#include "peergate/validation/resolve.h"

#include <algorithm>
#include <initializer_list>
#include <tuple>

namespace peergate::validation {
namespace {

std::string refText(const ObjectMeta& meta) { return meta.namespace_name + "/" + meta.name; }

struct ScopeCandidates {
  const PeerAuthentication* chosen = nullptr;
  std::vector<const PeerAuthentication*> ignored;
};

// Istio keeps the oldest policy of a scope and ignores the rest.
ScopeCandidates pickOldest(std::vector<const PeerAuthentication*> candidates) {
  ScopeCandidates result;
  if (candidates.empty()) return result;
  std::sort(candidates.begin(), candidates.end(),
            [](const auto* a, const auto* b) { return olderThan(*a, *b); });
  result.chosen = candidates.front();
  result.ignored.assign(candidates.begin() + 1, candidates.end());
  return result;
}

std::vector<const PeerAuthentication*> policiesOfScope(const ClusterState& state,
                                                       const std::string& ns, Scope scope) {
  std::vector<const PeerAuthentication*> out;
  for (const PeerAuthentication* pa : state.policiesIn(ns)) {
    if (policyScope(*pa, state.mesh()) == scope) out.push_back(pa);
  }
  return out;
}

void recordIgnored(const ScopeCandidates& candidates, std::string_view scope_name,
                   std::vector<ShadowedPolicy>& shadowed) {
  for (const PeerAuthentication* pa : candidates.ignored) {
    shadowed.push_back({pa->ref(), std::string(scope_name) + " policy " +
                                       refText(candidates.chosen->meta) +
                                       " is older and wins; Istio uses only the oldest"});
  }
}

struct ScopePolicy {
  const PeerAuthentication* policy;  // nullptr when none applies at this scope
  Scope scope;
};

// The workload-level mode: the narrowest scope whose policy sets one decides (UNSET inherits),
// else the default PERMISSIVE. Settled first, so the decision is written once.
void decideMode(std::initializer_list<ScopePolicy> widest_first, EffectivePolicy& result) {
  const ScopePolicy* decider = nullptr;
  for (const ScopePolicy& candidate : widest_first) {
    if (candidate.policy && candidate.policy->mtls.mode != Mode::Unset) decider = &candidate;
  }
  if (!decider) {
    result.decided_by = {{}, Scope::MeshDefault, "default PERMISSIVE"};
    return;
  }
  result.mode = decider->policy->mtls.mode;
  result.decided_by = {decider->policy->ref(), decider->scope, "spec.mtls.mode"};
}

void resolvePorts(const Workload& workload, EffectivePolicy& result) {
  std::vector<PortPolicy>& ports = result.ports;
  auto entry_for = [&](int64_t port) -> PortPolicy& {
    auto it =
        std::find_if(ports.begin(), ports.end(), [&](const auto& p) { return p.port == port; });
    if (it != ports.end()) return *it;
    ports.push_back({port, result.mode, result.decided_by, false});
    return ports.back();
  };
  for (const ContainerPort& cp : workload.spec.ports)
    entry_for(cp.port).declared_by_container = true;
  const PeerAuthentication* pa = result.workload_policy;
  if (pa && pa->port_level_mtls) {
    for (const PortLevelEntry& entry : *pa->port_level_mtls) {
      if (!entry.port || *entry.port < 1 || *entry.port > 65535) continue;
      PortPolicy& port = entry_for(*entry.port);
      const std::string rule = "spec.portLevelMtls." + entry.key;
      // An UNSET port entry takes the already-resolved workload mode.
      port.mode = entry.mode.mode == Mode::Unset ? result.mode : entry.mode.mode;
      port.decided_by = {pa->ref(), Scope::Workload, rule};
    }
  }
  std::sort(ports.begin(), ports.end(),
            [](const auto& a, const auto& b) { return a.port < b.port; });
}

}  // namespace

std::string_view toString(Scope scope) {
  switch (scope) {
    case Scope::MeshDefault:
      return "mesh-default";
    case Scope::Mesh:
      return "mesh";
    case Scope::Namespace:
      return "namespace";
    case Scope::Workload:
      return "workload";
  }
  return "mesh-default";
}

Mode EffectivePolicy::modeForPort(int64_t port) const {
  for (const PortPolicy& p : ports) {
    if (p.port == port) return p.mode;
  }
  return mode;
}

bool olderThan(const PeerAuthentication& a, const PeerAuthentication& b) {
  // Objects not created yet (no timestamp) are the newest: they will be stamped "now".
  const bool a_unset = a.meta.creation_timestamp.empty();
  const bool b_unset = b.meta.creation_timestamp.empty();
  return std::tie(a_unset, a.meta.creation_timestamp, a.meta.name, a.meta.namespace_name) <
         std::tie(b_unset, b.meta.creation_timestamp, b.meta.name, b.meta.namespace_name);
}

std::optional<Scope> policyScope(const PeerAuthentication& policy, const MeshConfig& mesh) {
  const bool root = policy.meta.namespace_name == mesh.root_namespace;
  if (policy.hasSelectorLabels()) {
    if (root) return std::nullopt;
    return Scope::Workload;
  }
  return root ? Scope::Mesh : Scope::Namespace;
}

namespace {

// Workload policies of one namespace indexed by one of their selector labels, so matching a
// workload costs its own labels' candidates instead of every policy in the namespace.
class SelectorIndex {
 public:
  void add(const PeerAuthentication* pa) {
    const auto& [key, value] = *pa->selector->begin();
    by_label_[key][value].push_back(pa);
  }
  // Looks labels up by key, then value: no "key=value" text is built per workload.
  std::vector<const PeerAuthentication*> matching(const Labels& labels) const {
    std::vector<const PeerAuthentication*> out;
    if (by_label_.empty()) return out;
    for (const auto& [key, value] : labels) {
      const auto values = by_label_.find(key);
      if (values == by_label_.end()) continue;
      const auto it = values->second.find(value);
      if (it == values->second.end()) continue;
      for (const PeerAuthentication* pa : it->second) {
        if (selectorMatches(*pa->selector, labels)) out.push_back(pa);
      }
    }
    return out;
  }

 private:
  // selector label key -> value -> policies whose first selector label it is
  std::map<std::string, std::map<std::string, std::vector<const PeerAuthentication*>>> by_label_;
};

// What resolution needs of a namespace, the same for each of its workloads: computed once per
// namespace (the mesh-wide part once per state) instead of once per workload.
struct NamespaceScopes {
  ScopeCandidates mesh_scope;
  ScopeCandidates ns_scope;
  std::vector<ShadowedPolicy> shadowed;  // mesh-wide then namespace-wide policies Istio ignores
  SelectorIndex index;
};

NamespaceScopes scopesOf(const ClusterState& state, const std::string& ns,
                         const ScopeCandidates& mesh_scope) {
  NamespaceScopes scopes;
  scopes.mesh_scope = mesh_scope;
  recordIgnored(mesh_scope, "mesh-wide", scopes.shadowed);
  if (ns == state.mesh().root_namespace) return scopes;
  scopes.ns_scope = pickOldest(policiesOfScope(state, ns, Scope::Namespace));
  recordIgnored(scopes.ns_scope, "namespace-wide", scopes.shadowed);
  for (const PeerAuthentication* pa : policiesOfScope(state, ns, Scope::Workload)) {
    scopes.index.add(pa);
  }
  return scopes;
}

EffectivePolicy resolveIndexed(const ClusterState& state, const Workload& workload,
                               const NamespaceScopes& scopes) {
  const std::string& ns = workload.meta.namespace_name;
  EffectivePolicy result;
  result.workload = &workload;
  const DataplaneDecision& dataplane = state.dataplane(workload);
  result.sidecar = dataplane.sidecar;
  result.ambient = dataplane.ambient;

  ScopeCandidates workload_scope;
  std::vector<ShadowedPolicy> ignored_in_root;
  if (ns != state.mesh().root_namespace) {
    workload_scope = pickOldest(scopes.index.matching(workload.pod_labels));
  } else {
    for (const PeerAuthentication* pa : state.policiesIn(ns)) {
      if (pa->hasSelectorLabels() && selectorMatches(*pa->selector, workload.pod_labels)) {
        ignored_in_root.push_back(
            {pa->ref(), "selector policy in the root namespace is ignored at runtime"});
      }
    }
  }
  result.mesh_policy = scopes.mesh_scope.chosen;
  result.namespace_policy = scopes.ns_scope.chosen;
  result.workload_policy = workload_scope.chosen;
  result.ignored_workload_policies = workload_scope.ignored;
  result.shadowed = std::move(ignored_in_root);
  result.shadowed.insert(result.shadowed.end(), scopes.shadowed.begin(), scopes.shadowed.end());
  recordIgnored(workload_scope, "workload", result.shadowed);

  decideMode({{scopes.mesh_scope.chosen, Scope::Mesh},
              {scopes.ns_scope.chosen, Scope::Namespace},
              {workload_scope.chosen, Scope::Workload}},
             result);
  resolvePorts(workload, result);
  return result;
}

ScopeCandidates meshScope(const ClusterState& state) {
  return pickOldest(policiesOfScope(state, state.mesh().root_namespace, Scope::Mesh));
}

}  // namespace

EffectivePolicy resolveWorkload(const ClusterState& state, const Workload& workload) {
  return resolveIndexed(state, workload,
                        scopesOf(state, workload.meta.namespace_name, meshScope(state)));
}

std::vector<EffectivePolicy> resolveAll(const ClusterState& state) {
  std::vector<EffectivePolicy> out;
  out.reserve(state.workloads().size());
  const ScopeCandidates mesh_scope = meshScope(state);
  std::map<std::string, NamespaceScopes> scopes;
  for (const Workload* w : state.workloads()) {
    const std::string& ns = w->meta.namespace_name;
    auto it = scopes.find(ns);
    if (it == scopes.end()) it = scopes.emplace(ns, scopesOf(state, ns, mesh_scope)).first;
    out.push_back(resolveIndexed(state, *w, it->second));
  }
  return out;
}

Mode resolveNamespaceMode(const ClusterState& state, const std::string& ns) {
  const MeshConfig& mesh = state.mesh();
  Mode mode = Mode::Permissive;
  auto apply = [&](const ScopeCandidates& scope) {
    if (scope.chosen && scope.chosen->mtls.mode != Mode::Unset) mode = scope.chosen->mtls.mode;
  };
  apply(pickOldest(policiesOfScope(state, mesh.root_namespace, Scope::Mesh)));
  if (ns != mesh.root_namespace) apply(pickOldest(policiesOfScope(state, ns, Scope::Namespace)));
  return mode;
}

}  // namespace peergate::validation
