// Analyzers about STRICT meeting the real dataplane: proxies, probes and observed clients.

#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "analyzers.h"

namespace peergate::validation::checks {
namespace {

const PeerAuthentication* findPolicy(const ClusterState& state, const ObjectRef& ref) {
  for (const PeerAuthentication* pa : state.policiesIn(ref.namespace_name)) {
    if (pa->meta.name == ref.name) return pa;
  }
  return nullptr;
}

// The deciding policy and rule behind STRICT on this workload (workload level, else a port).
const DecidedBy* strictDecision(const EffectivePolicy& e) {
  if (e.mode == Mode::Strict) return &e.decided_by;
  for (const PortPolicy& port : e.ports) {
    if (port.mode == Mode::Strict) return &port.decided_by;
  }
  return nullptr;
}

bool probeRewriteOn(const Workload& workload, const MeshConfig& mesh) {
  auto it = workload.pod_annotations.find("sidecar.istio.io/rewriteAppHTTPProbers");
  if (it != workload.pod_annotations.end() && (it->second == "true" || it->second == "false")) {
    return it->second == "true";
  }
  return mesh.rewrite_app_http_probes;
}

Finding findingOnWorkload(FindingCode code, const Workload& workload, std::string path,
                          std::string message, std::string hint) {
  return Finding{code,
                 findingInfo(code).severity,
                 workload.ref(),
                 std::move(path),
                 std::move(message),
                 std::move(hint),
                 workload.meta.source};
}

// The policy and rule of a decision, ordered by value without copying them out of the
// resolution (which outlives the analyzers).
struct RuleOf {
  const ObjectRef* policy;
  const std::string* rule;
  bool operator<(const RuleOf& other) const {
    return std::tie(*policy, *rule) < std::tie(*other.policy, *other.rule);
  }
};

using EffectiveIndex = std::map<const Workload*, const EffectivePolicy*>;

// Finds the workload an observation is about: by workload name, pod name, or folded pod.
const EffectivePolicy* observedWorkload(const AnalysisContext& ctx, const EffectiveIndex& index,
                                        const Observation& obs) {
  for (const Workload* w : ctx.state.workloadsIn(obs.namespace_name)) {
    bool match = w->meta.name == obs.workload || w->meta.name == obs.pod;
    for (const Workload* instance : ctx.state.instancesOf(*w)) {
      match = match || (!obs.pod.empty() && instance->meta.name == obs.pod);
    }
    if (match) return index.at(w);
  }
  return nullptr;
}

std::string sourceText(const Observation& obs) {
  std::string text = obs.source_workload.empty() ? obs.source_ip
                                                 : obs.source_workload + " (" + obs.source_ip + ")";
  text += " x" + std::to_string(obs.count);
  if (obs.security == "tls_passthrough") text += " (its own TLS, not mesh mTLS)";
  if (!obs.last_seen.empty()) text += ", last " + obs.last_seen;
  return text;
}

}  // namespace

void strictWithoutProxy(const AnalysisContext& ctx, std::vector<Finding>& out) {
  struct Unenforced {
    std::vector<std::string> workloads;
    std::set<std::string> namespaces;
  };
  std::map<RuleOf, Unenforced> by_rule;
  for (const EffectivePolicy& e : ctx.effective) {
    const Workload& w = *e.workload;
    if (e.sidecar || e.ambient || isSystemNamespace(w.meta.namespace_name, ctx.state.mesh())) {
      continue;
    }
    const DecidedBy* decision = strictDecision(e);
    if (!decision) continue;
    Unenforced& unenforced = by_rule[RuleOf{&decision->policy, &decision->rule}];
    unenforced.workloads.push_back(refText(w.meta) + " (" + ctx.state.dataplane(w).reason + ")");
    unenforced.namespaces.insert(w.meta.namespace_name);
  }
  for (const auto& [policy_rule, unenforced] : by_rule) {
    const ObjectRef& ref = *policy_rule.policy;
    const std::string& rule = *policy_rule.rule;
    const PeerAuthentication* pa = findPolicy(ctx.state, ref);
    if (!pa) continue;
    std::string label_commands;
    for (const std::string& ns : unenforced.namespaces) {
      label_commands += (label_commands.empty() ? "" : "; ") +
                        std::string("kubectl label namespace ") + ns + " istio-injection=enabled";
    }
    out.push_back(findingOn(
        FindingCode::StrictWithoutProxy, *pa, rule,
        "STRICT from " + refText(ref) + " applies to " +
            std::to_string(unenforced.workloads.size()) +
            " workload(s) without a proxy, where nothing enforces it and plaintext keeps "
            "flowing: " +
            nameList(unenforced.workloads),
        "Inject the proxy first (" + label_commands +
            ", then restart the workloads) or enrol them in ambient; or narrow the policy with a "
            "selector."));
  }
}

void strictOnProbedPort(const AnalysisContext& ctx, std::vector<Finding>& out) {
  for (const EffectivePolicy& e : ctx.effective) {
    const Workload& w = *e.workload;
    if (!e.sidecar || probeRewriteOn(w, ctx.state.mesh())) continue;
    for (const Probe& probe : w.spec.probes) {
      if (probe.handler == "exec" || !probe.port || e.modeForPort(*probe.port) != Mode::Strict) {
        continue;
      }
      const std::string port = std::to_string(*probe.port);
      out.push_back(findingOnWorkload(
          FindingCode::StrictOnProbedPort, w,
          "containers[" + probe.container + "]." + probe.type + "Probe",
          "kubelet's " + probe.type + " probe of " + refText(w.meta) + " (container " +
              probe.container + ", port " + port + ") will fail: port " + port +
              " is STRICT, kubelet has no mesh certificate, and probe rewriting is off",
          "Remove sidecar.istio.io/rewriteAppHTTPProbers: \"false\" (or set it to \"true\"), or "
          "make port " +
              port + " PERMISSIVE with portLevelMtls."));
    }
  }
}

void strictWithObservedPlaintext(const AnalysisContext& ctx, std::vector<Finding>& out) {
  if (!ctx.observations) return;
  struct Evidence {
    std::string rule;
    std::vector<std::string> lines;
    bool own_tls = false;  // some clients spoke their own TLS, which STRICT terminates too
  };
  std::map<ObjectRef, Evidence> by_policy;
  EffectiveIndex index;
  for (const EffectivePolicy& e : ctx.effective) index.emplace(e.workload, &e);
  for (const Observation& obs : ctx.observations->entries) {
    // Plaintext, and TLS that a PERMISSIVE proxy passed through to the app because it was not
    // the mesh's: STRICT refuses both.
    const bool own_tls = obs.security == "tls_passthrough";
    if ((obs.security != "plaintext" && !own_tls) || obs.count <= 0) continue;
    const EffectivePolicy* e = observedWorkload(ctx, index, obs);
    if (!e || e->modeForPort(obs.port) != Mode::Strict) continue;
    const DecidedBy* decision = &e->decided_by;
    for (const PortPolicy& port : e->ports) {
      if (port.port == obs.port) decision = &port.decided_by;
    }
    Evidence& evidence = by_policy[decision->policy];
    evidence.rule = decision->rule;
    evidence.own_tls = evidence.own_tls || own_tls;
    evidence.lines.push_back(refText(e->workload->meta) + ":" + std::to_string(obs.port) +
                             " from " + sourceText(obs));
  }
  for (const auto& [ref, evidence] : by_policy) {
    const PeerAuthentication* pa = findPolicy(ctx.state, ref);
    if (!pa) continue;
    out.push_back(findingOn(
        FindingCode::StrictWithObservedPlaintext, *pa, evidence.rule,
        "STRICT from " + refText(ref) +
            (evidence.own_tls
                 ? " refuses every client without mesh mTLS, but such clients were observed"
                 : " refuses plaintext, but plaintext clients were observed") +
            (ctx.observations->window_end.empty()
                 ? std::string()
                 : " (until " + ctx.observations->window_end + ")") +
            ": " + nameList(evidence.lines),
        "Give those clients a proxy (or ambient) first, or keep the port PERMISSIVE with "
        "portLevelMtls until they are gone; then re-check with fresh observations."));
  }
}

// Without traffic evidence the engine cannot know who calls whom, but every workload without a
// proxy is a plaintext client that STRICT would refuse: the migration's classic outage.
void strictWithUnmeshedClients(const AnalysisContext& ctx, std::vector<Finding>& out) {
  if (ctx.observations) return;  // with evidence, PG0113 names the clients actually seen
  std::map<ObjectRef, std::vector<std::string>> enforced;  // deciding policy -> servers
  for (const EffectivePolicy& e : ctx.effective) {
    if (!e.sidecar && !e.ambient) continue;
    if (const DecidedBy* decision = strictDecision(e)) {
      enforced[decision->policy].push_back(refText(e.workload->meta));
    }
  }
  if (enforced.empty()) return;
  // Clients anywhere in the cluster, also outside a review's scope.
  const UnmeshedClients unmeshed = ctx.state.unmeshedClients(kNamesShown);
  if (unmeshed.count == 0) return;
  for (const auto& [ref, servers] : enforced) {
    const PeerAuthentication* pa = findPolicy(ctx.state, ref);
    if (!pa) continue;
    out.push_back(findingOn(
        FindingCode::StrictWithUnmeshedClients, *pa, "spec.mtls.mode",
        "STRICT from " + refText(ref) + " makes " + nameList(servers) +
            " refuse plaintext; these workloads have no proxy and will be cut off if they call "
            "them: " +
            nameListOf(unmeshed.first, unmeshed.count),
        "Confirm they do not call these servers (run with --observations from the proxies), or "
        "give them a proxy first; keep PERMISSIVE until then."));
  }
}

void workloadDisableInStrictNamespace(const AnalysisContext& ctx, std::vector<Finding>& out) {
  for (const PeerAuthentication* policy : ctx.state.objects().peer_authentications) {
    const PeerAuthentication& pa = *policy;
    if (pa.mtls.mode != Mode::Disable || policyScope(pa, ctx.state.mesh()) != Scope::Workload ||
        resolveNamespaceMode(ctx.state, pa.meta.namespace_name) != Mode::Strict) {
      continue;
    }
    out.push_back(findingOn(
        FindingCode::WorkloadDisableInStrictNamespace, pa, "spec.mtls.mode",
        "PeerAuthentication " + refText(pa.meta) + " turns mTLS off inside namespace " +
            pa.meta.namespace_name +
            ", which is STRICT: clients with proxies infer mTLS from the namespace policy (auto "
            "mTLS ignores workload policies) and fail unless a DestinationRule sets "
            "tls.mode DISABLE for this host",
        "Prefer PERMISSIVE for the exception (mTLS clients and plaintext clients both connect), "
        "or add a DestinationRule with tls.mode DISABLE; track the exception to removal."));
  }
}

}  // namespace peergate::validation::checks
