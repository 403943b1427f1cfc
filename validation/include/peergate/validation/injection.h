#pragma once

#include <span>
#include <string>

#include "peergate/validation/model.h"

namespace peergate::validation {

// Why a workload does or does not get a proxy: the webhook selection and injectRequired rules
// of spec §4, and ambient enrolment of §5. The webhook injector uses the same decision.
struct DataplaneDecision {
  bool sidecar = false;       // has a proxy now, or injection will give it one
  bool injected_now = false;  // a proxy container is already in the spec
  bool ambient = false;       // enrolled in ambient (never together with sidecar)
  std::string reason;         // e.g. "namespace label istio-injection=enabled"
};

bool isSystemNamespace(const std::string& name, const MeshConfig& mesh);
bool hasProxyContainer(const PodSpecSummary& spec);

DataplaneDecision decideDataplane(const Workload& workload, const Namespace* ns,
                                  const MeshConfig& mesh);

}  // namespace peergate::validation
