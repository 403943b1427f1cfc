#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "peergate/validation/finding.h"
#include "peergate/validation/result.h"

namespace peergate::webhook {

enum class FindingAction { Deny, Warn, Off };

// What the injector puts into pods (defaults match the Istio ports and uid in DESIGN.md).
struct InjectionConfig {
  std::string proxy_image = "ghcr.io/peergate/peergate:latest";
  std::string image_pull_policy = "IfNotPresent";
  int proxy_uid = 1337;
  int inbound_port = 15006;
  int outbound_port = 15001;
  int admin_port = 15020;  // health, metrics, rewritten probes
  std::string control_plane_address = "peergate.peergate-system.svc:15012";
  std::string revision = "default";
};

struct WebhookConfig {
  // Per finding code; codes not listed follow their severity: Error -> deny, else warn.
  std::map<validation::FindingCode, FindingAction> actions;
  InjectionConfig injection;
  int max_staleness_seconds = 300;  // cluster state older than this: fail as configured
  bool fail_open_when_stale = false;
  // An AdmissionReview body larger than this is refused with 413 inside the review (the API
  // server may send object + oldObject of up to 3 MiB each; controller-runtime reads 7 MiB).
  std::size_t max_request_bytes = std::size_t{7} << 20;

  FindingAction actionFor(const validation::Finding& finding) const;
};

// Reads the YAML config file (`--config`). Unknown keys and codes, values of the wrong type and
// out-of-range values are errors naming the key path and what it expects.
validation::Result<WebhookConfig> parseWebhookConfig(const std::string& yaml_text);

// What a valid config does that the operator should hear about at startup, one line each: an
// Error-severity finding turned off.
std::vector<std::string> configWarnings(const WebhookConfig& config);

}  // namespace peergate::webhook
