#pragma once

// Probe rewriting (Istio's app_probe.go): kubelet's httpGet, tcpSocket and grpc probes of app
// containers are sent to the proxy's admin port, which runs the original probe from inside the
// pod, so STRICT mTLS does not fail them. exec probes need no network and stay as they are.
// Private to the webhook component.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "peergate/validation/model.h"

namespace peergate::webhook {

inline constexpr std::string_view kRewriteProbesAnnotation =
    "sidecar.istio.io/rewriteAppHTTPProbers";

// The annotation ("true" / "false") overrides the mesh default; other values keep the default.
bool probeRewriteEnabled(const validation::Labels& annotations, bool mesh_default);

// Where the proxy serves a container's probe: /app-health/<container>/readyz|livez|startupz for
// readinessProbe, livenessProbe and startupProbe.
std::string appProbePath(std::string_view container, std::string_view probe_field);

// Rewrites, in place, the probes of `pod_spec.containers` into an httpGet on `admin_port` at
// their app-health path, and returns the originals keyed by that path, Istio's prober shape:
//   {"/app-health/app/livez": {"httpGet": {"path": "/ok", "port": 8080}, "timeoutSeconds": 1}}
// with named ports resolved to numbers. A probe whose named port no container port defines is
// left alone (kubelet would fail it anyway), as are exec probes.
nlohmann::json rewriteAppProbes(nlohmann::json& pod_spec, int admin_port);

// Undoes rewriteAppProbes with the originals it returned, so that re-injection starts from the
// application's own probes.
void restoreAppProbes(nlohmann::json& pod_spec, const nlohmann::json& probers);

}  // namespace peergate::webhook
