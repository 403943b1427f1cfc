// Client-side TLS from DestinationRules against the servers' effective policy.

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "analyzers.h"

namespace peergate::validation::checks {
namespace {

bool endsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether "<name>.<namespace>.svc.cluster.local" ends with `suffix`, read part by part from the
// end instead of building the name (a wildcard host is matched against every Service).
bool fqdnEndsWith(const Service& svc, std::string_view suffix) {
  const std::array<std::string_view, 4> parts = {svc.meta.name, ".", svc.meta.namespace_name,
                                                 ".svc.cluster.local"};
  for (auto part = parts.rbegin(); part != parts.rend() && !suffix.empty(); ++part) {
    const std::size_t overlap = std::min(part->size(), suffix.size());
    if (!part->ends_with(suffix.substr(suffix.size() - overlap))) return false;
    suffix.remove_suffix(overlap);
  }
  return suffix.empty();
}

// Services a DestinationRule host names: "name" (the rule's namespace), "name.ns",
// "name.ns.svc[.<domain>]", and wildcards matched against each Service's FQDN ("*",
// "*.local", "*.ns.svc.cluster.local"). External hosts name none.
std::vector<const Service*> servicesForHost(const ClusterState& state, const DestinationRule& dr) {
  std::vector<const Service*> out;
  const std::string& host = dr.host;
  if (!host.empty() && host.front() == '*') {
    const std::string_view suffix = std::string_view(host).substr(1);
    for (const Service* svc : state.objects().services) {
      if (fqdnEndsWith(*svc, suffix)) out.push_back(svc);
    }
    return out;
  }
  std::string name_ns = host;
  for (const std::string& suffix : {std::string(".svc.cluster.local"),
                                    ".svc." + state.mesh().trust_domain, std::string(".svc")}) {
    if (endsWith(name_ns, suffix)) {
      name_ns.resize(name_ns.size() - suffix.size());
      break;
    }
  }
  const auto dot = name_ns.find('.');
  const std::string name = name_ns.substr(0, dot);
  const std::string ns =
      dot == std::string::npos ? dr.meta.namespace_name : name_ns.substr(dot + 1);
  if (ns.find('.') != std::string::npos) return out;  // an external host
  if (const Service* svc = state.findService(ns, name)) out.push_back(svc);
  return out;
}

std::optional<int64_t> targetPort(const ServicePort& sp, const Workload& workload) {
  if (sp.target_port_number) return *sp.target_port_number;
  if (sp.target_port_name.empty()) return sp.port;
  for (const ContainerPort& cp : workload.spec.ports) {
    if (cp.name == sp.target_port_name) return cp.port;
  }
  return std::nullopt;
}

// The tls mode a rule sets for a service port; `port_setting` indexes portLevelSettings, or is
// npos for the rule-wide trafficPolicy.tls.
struct RuleTls {
  const std::string& mode;
  std::size_t port_setting = std::string::npos;

  std::string path() const {
    if (port_setting == std::string::npos) return "spec.trafficPolicy.tls.mode";
    return "spec.trafficPolicy.portLevelSettings[" + std::to_string(port_setting) + "].tls.mode";
  }
};

RuleTls tlsForPort(const DestinationRule& dr, int64_t service_port) {
  for (std::size_t i = 0; i < dr.port_tls.size(); ++i) {
    if (dr.port_tls[i].port == service_port && !dr.port_tls[i].tls_mode.empty()) {
      return {dr.port_tls[i].tls_mode, i};
    }
  }
  return {dr.tls_mode, std::string::npos};
}

Finding findingOnRule(FindingCode code, const DestinationRule& dr, std::string path,
                      std::string message, std::string hint) {
  return Finding{code,
                 findingInfo(code).severity,
                 dr.ref(),
                 std::move(path),
                 std::move(message),
                 std::move(hint),
                 dr.meta.source};
}

struct Conflicts {
  std::map<std::string, std::set<std::string>> plaintext_to_strict;   // path -> "ns/w:port"
  std::map<std::string, std::set<std::string>> mutual_without_proxy;  // path -> "ns/w"
};

// Names are built only for conflicts: most ports of most rules have none.
void checkServicePort(const DestinationRule& dr, const ServicePort& sp, const EffectivePolicy& e,
                      Conflicts& conflicts) {
  const RuleTls tls = tlsForPort(dr, sp.port);
  if (tls.mode == "ISTIO_MUTUAL" && !e.sidecar && !e.ambient) {
    conflicts.mutual_without_proxy[tls.path()].insert(refText(e.workload->meta));
  }
  if (tls.mode != "DISABLE" && tls.mode != "SIMPLE") return;
  const std::optional<int64_t> port = targetPort(sp, *e.workload);
  const Mode mode = port ? e.modeForPort(*port) : e.mode;
  if (mode == Mode::Strict && (e.sidecar || e.ambient)) {
    conflicts.plaintext_to_strict[tls.path()].insert(refText(e.workload->meta) + ":" +
                                                     std::to_string(port.value_or(sp.port)));
  }
}

void report(const DestinationRule& dr, const Conflicts& conflicts, std::vector<Finding>& out) {
  for (const auto& [path, targets] : conflicts.plaintext_to_strict) {
    const std::vector<std::string> list(targets.begin(), targets.end());
    out.push_back(findingOnRule(
        FindingCode::DestinationRulePlaintextToStrict, dr, path,
        "DestinationRule " + refText(dr.meta) + " makes clients of " + dr.host +
            " skip Istio mTLS, but these servers require it (STRICT): " + nameList(list) +
            "; those connections will be refused",
        "Set tls.mode ISTIO_MUTUAL, or remove the tls block so auto mTLS chooses."));
  }
  for (const auto& [path, targets] : conflicts.mutual_without_proxy) {
    const std::vector<std::string> list(targets.begin(), targets.end());
    out.push_back(findingOnRule(
        FindingCode::DestinationRuleMutualWithoutProxy, dr, path,
        "DestinationRule " + refText(dr.meta) + " uses mTLS for workload(s) " + nameList(list) +
            " that have no sidecar; traffic from workloads with sidecars will fail",
        "Inject the proxy into those workloads first, or drop ISTIO_MUTUAL until they have one."));
  }
}

}  // namespace

void destinationRuleTls(const AnalysisContext& ctx, std::vector<Finding>& out) {
  if (ctx.state.objects().destination_rules.empty()) return;
  std::map<const Workload*, const EffectivePolicy*> index;
  for (const EffectivePolicy& e : ctx.effective) index.emplace(e.workload, &e);
  for (const DestinationRule* rule : ctx.state.objects().destination_rules) {
    const DestinationRule& dr = *rule;
    Conflicts conflicts;
    for (const Service* svc : servicesForHost(ctx.state, dr)) {
      if (!svc->selector || svc->selector->empty()) continue;
      for (const Workload* w : ctx.state.workloadsIn(svc->meta.namespace_name)) {
        if (!selectorMatches(*svc->selector, w->pod_labels)) continue;
        for (const ServicePort& sp : svc->ports) checkServicePort(dr, sp, *index.at(w), conflicts);
      }
    }
    report(dr, conflicts, out);
  }
}

}  // namespace peergate::validation::checks
