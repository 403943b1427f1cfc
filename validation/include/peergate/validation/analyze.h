#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/finding.h"
#include "peergate/validation/observations.h"
#include "peergate/validation/resolve.h"

namespace peergate::validation {

// What every analyzer reads: the state, its resolution (computed once), and traffic evidence.
struct AnalysisContext {
  const ClusterState& state;
  const std::vector<EffectivePolicy>& effective;  // aligned with state.workloads()
  const Observations* observations = nullptr;
};

using AnalyzerFn = void (*)(const AnalysisContext&, std::vector<Finding>&);

struct Analyzer {
  std::string_view name;
  AnalyzerFn run;
};

// The one table of analyzers (validation of each PeerAuthentication is the first entry).
std::span<const Analyzer> analyzers();

struct Analysis {
  std::vector<EffectivePolicy> effective;
  std::vector<Finding> findings;  // sorted with sortFindings
  // Checks that could not run on this input and why (e.g. no workloads to match selectors).
  std::vector<std::string> notes;
};

Analysis analyze(const ClusterState& state, const Observations* observations = nullptr);

}  // namespace peergate::validation
