#pragma once

// The pod annotations that shape an injected sidecar (Istio's names, so existing manifests carry
// over), validated with the rules and wording of Istio's pkg/kube/inject/validate.go. Private to
// the webhook component.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/model.h"
#include "peergate/validation/result.h"

namespace peergate::webhook {

inline constexpr std::string_view kInterceptionModeAnnotation = "sidecar.istio.io/interceptionMode";
inline constexpr std::string_view kStatusPortAnnotation = "status.sidecar.istio.io/port";
inline constexpr std::string_view kReadinessInitialDelayAnnotation =
    "readiness.status.sidecar.istio.io/initialDelaySeconds";
inline constexpr std::string_view kReadinessPeriodAnnotation =
    "readiness.status.sidecar.istio.io/periodSeconds";
inline constexpr std::string_view kReadinessFailureThresholdAnnotation =
    "readiness.status.sidecar.istio.io/failureThreshold";
inline constexpr std::string_view kIncludeOutboundIpRangesAnnotation =
    "traffic.sidecar.istio.io/includeOutboundIPRanges";
inline constexpr std::string_view kExcludeOutboundIpRangesAnnotation =
    "traffic.sidecar.istio.io/excludeOutboundIPRanges";
inline constexpr std::string_view kIncludeInboundPortsAnnotation =
    "traffic.sidecar.istio.io/includeInboundPorts";
inline constexpr std::string_view kExcludeInboundPortsAnnotation =
    "traffic.sidecar.istio.io/excludeInboundPorts";
inline constexpr std::string_view kExcludeOutboundPortsAnnotation =
    "traffic.sidecar.istio.io/excludeOutboundPorts";
inline constexpr std::string_view kMergeMetricsAnnotation = "prometheus.istio.io/merge-metrics";

// What the annotations ask of the sidecar, once they are known to be valid.
struct InjectionAnnotations {
  std::string interception_mode = "REDIRECT";             // REDIRECT | TPROXY | NONE
  std::optional<int> status_port;                         // overrides the admin port
  std::optional<std::vector<int>> include_inbound_ports;  // nullopt: all ports ("*")
  std::vector<int> exclude_inbound_ports;
  std::vector<int> exclude_outbound_ports;
  std::vector<std::string> exclude_outbound_cidrs;
  std::optional<std::uint32_t> readiness_initial_delay_seconds;
  std::optional<std::uint32_t> readiness_period_seconds;
  std::optional<std::uint32_t> readiness_failure_threshold;
};

// One message per invalid annotation, in annotation-name order, each
// `invalid value '<v>' for annotation '<name>': <reason>` with Istio's reasons.
std::vector<std::string> injectionAnnotationErrors(const validation::Labels& annotations);

// Validates, then parses. The error (code "inject.annotation", path
// "metadata.annotations") carries every message above, joined with "; ".
validation::Result<InjectionAnnotations> readInjectionAnnotations(
    const validation::Labels& annotations);

}  // namespace peergate::webhook
