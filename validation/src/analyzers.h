#pragma once

// The analyzers registered in analyze.cc's table. Each reads the context and appends findings.

#include <string>
#include <vector>

#include "peergate/validation/analyze.h"

namespace peergate::validation::checks {

void validatePolicies(const AnalysisContext& ctx, std::vector<Finding>& out);
void meshWideDisable(const AnalysisContext& ctx, std::vector<Finding>& out);
void duplicateScopePolicies(const AnalysisContext& ctx, std::vector<Finding>& out);
void overlappingWorkloadPolicies(const AnalysisContext& ctx, std::vector<Finding>& out);
void selectorPolicyInRootNamespace(const AnalysisContext& ctx, std::vector<Finding>& out);
void selectorMatchesNoWorkload(const AnalysisContext& ctx, std::vector<Finding>& out);
void portLevelMtlsPorts(const AnalysisContext& ctx, std::vector<Finding>& out);
void strictWithoutProxy(const AnalysisContext& ctx, std::vector<Finding>& out);
void strictOnProbedPort(const AnalysisContext& ctx, std::vector<Finding>& out);
void strictWithObservedPlaintext(const AnalysisContext& ctx, std::vector<Finding>& out);
void strictWithUnmeshedClients(const AnalysisContext& ctx, std::vector<Finding>& out);
void workloadDisableInStrictNamespace(const AnalysisContext& ctx, std::vector<Finding>& out);
void destinationRuleTls(const AnalysisContext& ctx, std::vector<Finding>& out);

// Shared by the analyzers.
std::string refText(const ObjectRef& ref);    // "ns/name"
std::string refText(const ObjectMeta& meta);  // "ns/name", without building an ObjectRef
inline constexpr std::size_t kNamesShown = 5;
std::string nameList(const std::vector<std::string>& names, std::size_t max_shown = kNamesShown);
// The first names of `total`: "a, b and 3 more".
std::string nameListOf(const std::vector<std::string>& first, std::size_t total);
Finding findingOn(FindingCode code, const PeerAuthentication& policy, std::string path,
                  std::string message, std::string hint);
bool hasWorkloads(const AnalysisContext& ctx);

}  // namespace peergate::validation::checks
