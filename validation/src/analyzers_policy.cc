// Analyzers over the policy set itself: scopes, duplicates, selectors and port keys.

#include <algorithm>
#include <map>
#include <set>

#include "analyzers.h"
#include "peergate/validation/validate.h"

namespace peergate::validation::checks {
namespace {

std::vector<const PeerAuthentication*> scopePolicies(const ClusterState& state,
                                                     const std::string& ns, Scope scope) {
  std::vector<const PeerAuthentication*> out;
  for (const PeerAuthentication* pa : state.policiesIn(ns)) {
    if (policyScope(*pa, state.mesh()) == scope) out.push_back(pa);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return olderThan(*a, *b); });
  return out;
}

void reportDuplicates(const std::vector<const PeerAuthentication*>& oldest_first, Scope scope,
                      std::vector<Finding>& out) {
  if (oldest_first.size() < 2) return;
  const bool mesh = scope == Scope::Mesh;
  const std::string what = mesh ? "mesh-wide" : "namespace-wide";
  const std::string winner = refText(oldest_first.front()->meta);
  for (auto it = oldest_first.begin() + 1; it != oldest_first.end(); ++it) {
    const PeerAuthentication& pa = **it;
    out.push_back(findingOn(
        mesh ? FindingCode::DuplicateMeshWidePolicy : FindingCode::DuplicateNamespaceWidePolicy, pa,
        "metadata.name",
        what + " PeerAuthentication " + refText(pa.meta) + " (" +
            std::string(toString(pa.mtls.mode)) + ") is ignored: " + winner +
            " is older and Istio uses only the oldest " + what + " policy",
        "Keep one " + what + " policy: merge the intended mode into " + winner + " and delete " +
            refText(pa.meta) + "."));
  }
}

// Workloads each workload policy selects (chosen or ignored), from the resolution.
std::map<const PeerAuthentication*, std::vector<const EffectivePolicy*>> selectedBy(
    const AnalysisContext& ctx) {
  std::map<const PeerAuthentication*, std::vector<const EffectivePolicy*>> out;
  for (const EffectivePolicy& e : ctx.effective) {
    if (e.workload_policy) out[e.workload_policy].push_back(&e);
    for (const PeerAuthentication* pa : e.ignored_workload_policies) out[pa].push_back(&e);
  }
  return out;
}

std::string selectorText(const Labels& selector) {
  std::string text;
  for (const auto& [key, value] : selector) {
    if (!text.empty()) text += ",";
    text += key + "=" + value;
  }
  return text;
}

// The container port a Service port forwards to on this workload, when it differs from `port`.
std::optional<int64_t> serviceTargetPort(const ClusterState& state, const Workload& workload,
                                         int64_t port) {
  for (const Service* svc : state.servicesIn(workload.meta.namespace_name)) {
    if (!svc->selector || svc->selector->empty() ||
        !selectorMatches(*svc->selector, workload.pod_labels)) {
      continue;
    }
    for (const ServicePort& sp : svc->ports) {
      if (sp.port != port) continue;
      if (sp.target_port_number) return *sp.target_port_number;
      if (sp.target_port_name.empty()) return sp.port;  // no targetPort: the same port
      for (const ContainerPort& cp : workload.spec.ports) {
        if (cp.name == sp.target_port_name) return cp.port;
      }
    }
  }
  return std::nullopt;
}

void checkPortKey(const AnalysisContext& ctx, const PeerAuthentication& pa,
                  const PortLevelEntry& entry, const std::vector<const EffectivePolicy*>& selected,
                  std::vector<Finding>& out) {
  std::set<int64_t> container_ports;
  for (const EffectivePolicy* e : selected) {
    for (const ContainerPort& cp : e->workload->spec.ports) container_ports.insert(cp.port);
  }
  const int64_t port = *entry.port;
  if (container_ports.count(port)) return;
  const std::string path = "spec.portLevelMtls." + entry.key;
  for (const EffectivePolicy* e : selected) {
    std::optional<int64_t> target = serviceTargetPort(ctx.state, *e->workload, port);
    if (target && *target != port) {
      out.push_back(findingOn(
          FindingCode::PortLevelMtlsUsesServicePort, pa, path,
          "portLevelMtls port " + std::to_string(port) + " is a Service port of " +
              refText(e->workload->meta) + " that forwards to container port " +
              std::to_string(*target) +
              "; portLevelMtls is keyed by the container port, so this entry never applies",
          "Use " + std::to_string(*target) + " (the container port) as the key."));
      return;
    }
  }
  std::vector<std::string> exposed;
  for (int64_t p : container_ports) exposed.push_back(std::to_string(p));
  out.push_back(findingOn(
      FindingCode::PortLevelMtlsUnknownPort, pa, path,
      "portLevelMtls port " + std::to_string(port) +
          " is not a container port of the selected workloads (they expose " +
          (exposed.empty() ? std::string("no ports") : nameList(exposed, 10)) + ")",
      "Key portLevelMtls by a port the container listens on; if the app listens on " +
          std::to_string(port) + " without declaring it, add it to the container's ports."));
}

}  // namespace

namespace {

std::string joinedName(const std::string& namespace_name, const std::string& name) {
  std::string text;
  text.reserve(namespace_name.size() + 1 + name.size());
  return text.append(namespace_name).append("/").append(name);
}

}  // namespace

std::string refText(const ObjectRef& ref) { return joinedName(ref.namespace_name, ref.name); }
std::string refText(const ObjectMeta& meta) { return joinedName(meta.namespace_name, meta.name); }

std::string nameList(const std::vector<std::string>& names, std::size_t max_shown) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < max_shown; ++i) {
    if (i) text += ", ";
    text += names[i];
  }
  if (names.size() > max_shown) {
    text += " and " + std::to_string(names.size() - max_shown) + " more";
  }
  return text;
}

std::string nameListOf(const std::vector<std::string>& first, std::size_t total) {
  std::string text = nameList(first, first.size());
  if (total > first.size()) text += " and " + std::to_string(total - first.size()) + " more";
  return text;
}

Finding findingOn(FindingCode code, const PeerAuthentication& policy, std::string path,
                  std::string message, std::string hint) {
  return Finding{code,
                 findingInfo(code).severity,
                 policy.ref(),
                 std::move(path),
                 std::move(message),
                 std::move(hint),
                 policy.meta.source};
}

bool hasWorkloads(const AnalysisContext& ctx) { return !ctx.state.workloads().empty(); }

void validatePolicies(const AnalysisContext& ctx, std::vector<Finding>& out) {
  for (const PeerAuthentication* pa : ctx.state.objects().peer_authentications) {
    std::vector<Finding> found = validatePeerAuthentication(*pa);
    out.insert(out.end(), found.begin(), found.end());
  }
}

void meshWideDisable(const AnalysisContext& ctx, std::vector<Finding>& out) {
  const MeshConfig& mesh = ctx.state.mesh();
  for (const PeerAuthentication* pa : scopePolicies(ctx.state, mesh.root_namespace, Scope::Mesh)) {
    if (pa->mtls.mode != Mode::Disable) continue;
    std::vector<std::string> affected;
    for (const EffectivePolicy& e : ctx.effective) {
      if (e.decided_by.policy == pa->ref() && e.mode == Mode::Disable) {
        affected.push_back(refText(e.workload->meta));
      }
    }
    std::string message = "mesh-wide PeerAuthentication " + refText(pa->meta) +
                          " sets mTLS DISABLE: every namespace without its own policy accepts and "
                          "sends plaintext";
    if (!affected.empty()) {
      message += " (" + std::to_string(affected.size()) + " workloads: " + nameList(affected) + ")";
    }
    out.push_back(findingOn(FindingCode::MeshWideDisable, *pa, "spec.mtls.mode", message,
                            "Use PERMISSIVE mesh-wide while migrating, and turn mTLS off only "
                            "for the workloads that need it with a selector policy in their "
                            "namespace."));
  }
}

void duplicateScopePolicies(const AnalysisContext& ctx, std::vector<Finding>& out) {
  const std::string& root = ctx.state.mesh().root_namespace;
  reportDuplicates(scopePolicies(ctx.state, root, Scope::Mesh), Scope::Mesh, out);
  for (const std::string& ns : ctx.state.namespaceNames()) {
    if (ns == root) continue;
    reportDuplicates(scopePolicies(ctx.state, ns, Scope::Namespace), Scope::Namespace, out);
  }
}

void overlappingWorkloadPolicies(const AnalysisContext& ctx, std::vector<Finding>& out) {
  struct Overlap {
    std::set<std::string> winners;
    std::vector<std::string> workloads;
  };
  std::map<const PeerAuthentication*, Overlap> ignored;
  for (const EffectivePolicy& e : ctx.effective) {
    for (const PeerAuthentication* pa : e.ignored_workload_policies) {
      Overlap& overlap = ignored[pa];
      overlap.winners.insert(refText(e.workload_policy->meta));
      overlap.workloads.push_back(refText(e.workload->meta));
    }
  }
  for (const auto& [pa, overlap] : ignored) {
    const std::vector<std::string> winners(overlap.winners.begin(), overlap.winners.end());
    out.push_back(findingOn(
        FindingCode::OverlappingWorkloadPolicies, *pa, "spec.selector",
        "PeerAuthentication " + refText(pa->meta) + " is ignored for " +
            nameList(overlap.workloads) + ": " + nameList(winners) +
            " also selects it and is older; Istio uses only the oldest workload policy and "
            "never merges them",
        "Give each workload exactly one policy: merge the rules into " + nameList(winners) +
            " or make the selectors disjoint."));
  }
}

void selectorPolicyInRootNamespace(const AnalysisContext& ctx, std::vector<Finding>& out) {
  const std::string& root = ctx.state.mesh().root_namespace;
  for (const PeerAuthentication* pa : ctx.state.policiesIn(root)) {
    if (!pa->hasSelectorLabels()) continue;
    out.push_back(findingOn(
        FindingCode::SelectorPolicyInRootNamespace, *pa, "spec.selector",
        "PeerAuthentication " + refText(pa->meta) + " has a selector in the root namespace " +
            root +
            ": Istio ignores it at runtime (it is neither mesh-wide nor applied to the "
            "selected workloads)",
        "Move it to the namespace of the workloads it should select, or remove the selector to "
        "make it mesh-wide."));
  }
}

void selectorMatchesNoWorkload(const AnalysisContext& ctx, std::vector<Finding>& out) {
  if (!hasWorkloads(ctx)) return;
  const auto selected = selectedBy(ctx);
  for (const PeerAuthentication* policy : ctx.state.objects().peer_authentications) {
    const PeerAuthentication& pa = *policy;
    if (policyScope(pa, ctx.state.mesh()) != Scope::Workload || selected.count(&pa)) continue;
    const std::string& ns = pa.meta.namespace_name;
    out.push_back(findingOn(
        FindingCode::SelectorMatchesNoWorkload, pa, "spec.selector.matchLabels",
        "selector " + selectorText(*pa.selector) + " of PeerAuthentication " + refText(pa.meta) +
            " matches no workload in namespace " + ns,
        "Check the labels with `kubectl get pods -n " + ns +
            " --show-labels`; a selector only matches pods in the policy's own namespace."));
  }
}

void portLevelMtlsPorts(const AnalysisContext& ctx, std::vector<Finding>& out) {
  if (!hasWorkloads(ctx)) return;
  for (const auto& [pa, selected] : selectedBy(ctx)) {
    if (!pa->port_level_mtls) continue;
    for (const PortLevelEntry& entry : *pa->port_level_mtls) {
      if (entry.port && *entry.port >= 1 && *entry.port <= 65535) {
        checkPortKey(ctx, *pa, entry, selected, out);
      }
    }
  }
}

}  // namespace peergate::validation::checks
