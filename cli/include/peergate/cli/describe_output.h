#pragma once

#include <iosfwd>
#include <vector>

#include <nlohmann/json.hpp>

#include "peergate/validation/resolve.h"

namespace peergate::cli {

// {"namespace","name","scope"}; empty names for the mesh default.
nlohmann::ordered_json decidedByToJson(const validation::DecidedBy& decided_by);

// "namespace foo/default", "workload payments/checkout", "mesh istio-system/default",
// "mesh-default".
std::string decidedByText(const validation::DecidedBy& decided_by);

// "sidecar", "ambient" or "none".
std::string dataplaneText(const validation::EffectivePolicy& policy);

// "deployment/httpbin": kubectl's resource/name form.
std::string workloadText(const validation::ObjectRef& workload);

// The stable `describe -o json` contract:
// {"workloads":[{"namespace","name","kind","mode","decidedBy","shadowed","sidecar","ambient",
//   "ports":[{"port","mode","decidedBy"}]}]}
nlohmann::ordered_json describeJson(
    const std::vector<const validation::EffectivePolicy*>& policies);

// An aligned table: one row per workload with PORT `*`, then one per port.
void writeDescribeText(const std::vector<const validation::EffectivePolicy*>& policies,
                       std::ostream& out);

}  // namespace peergate::cli
