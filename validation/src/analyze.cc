#include "peergate/validation/analyze.h"

#include <array>

#include "analyzers.h"

namespace peergate::validation {
namespace {

constexpr std::array kAnalyzers = {
    Analyzer{"validate-policies", checks::validatePolicies},
    Analyzer{"mesh-wide-disable", checks::meshWideDisable},
    Analyzer{"duplicate-scope-policies", checks::duplicateScopePolicies},
    Analyzer{"overlapping-workload-policies", checks::overlappingWorkloadPolicies},
    Analyzer{"selector-policy-in-root-namespace", checks::selectorPolicyInRootNamespace},
    Analyzer{"selector-matches-no-workload", checks::selectorMatchesNoWorkload},
    Analyzer{"port-level-mtls-ports", checks::portLevelMtlsPorts},
    Analyzer{"strict-without-proxy", checks::strictWithoutProxy},
    Analyzer{"strict-on-probed-port", checks::strictOnProbedPort},
    Analyzer{"strict-with-observed-plaintext", checks::strictWithObservedPlaintext},
    Analyzer{"strict-with-unmeshed-clients", checks::strictWithUnmeshedClients},
    Analyzer{"workload-disable-in-strict-namespace", checks::workloadDisableInStrictNamespace},
    Analyzer{"destination-rule-tls", checks::destinationRuleTls},
};

}  // namespace

std::span<const Analyzer> analyzers() { return kAnalyzers; }

Analysis analyze(const ClusterState& state, const Observations* observations) {
  Analysis analysis;
  analysis.effective = resolveAll(state);
  const AnalysisContext ctx{state, analysis.effective, observations};
  for (const Analyzer& analyzer : kAnalyzers) analyzer.run(ctx, analysis.findings);
  sortFindings(analysis.findings);
  if (!checks::hasWorkloads(ctx) && !state.objects().peer_authentications.empty()) {
    analysis.notes.push_back(
        "the input has no Pods or workload controllers: checks that need workloads (STRICT "
        "without a proxy, selectors, ports, probes) were skipped; add them, e.g. `kubectl get "
        "namespaces,pods,deployments,services -A -o yaml`");
  }
  return analysis;
}

}  // namespace peergate::validation
