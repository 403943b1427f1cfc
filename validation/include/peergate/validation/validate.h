#pragma once

#include <vector>

#include "peergate/validation/finding.h"
#include "peergate/validation/model.h"

namespace peergate::validation {

// Istio's own admission rules for a PeerAuthentication (webhook ValidatePeerAuthentication and
// the CRD schema), with Istio's messages, plus Kubernetes object-meta rules. Returns every
// finding, Error for what the API server would refuse, Warning for what Istio warns about.
std::vector<Finding> validatePeerAuthentication(const PeerAuthentication& policy);

// Kubernetes metadata rules shared by all kinds: DNS-1123 names, label keys and values.
std::vector<Finding> validateObjectMeta(const ObjectMeta& meta, const ObjectRef& ref);

}  // namespace peergate::validation
