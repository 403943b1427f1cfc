#include "probe_rewrite.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace peergate::webhook {
namespace {

using Json = nlohmann::json;

struct ProbeField {
  std::string_view field;     // the container's field
  std::string_view endpoint;  // the last segment of the app-health path
};

constexpr std::array<ProbeField, 3> kProbeFields = {{
    {"readinessProbe", "readyz"},
    {"livenessProbe", "livez"},
    {"startupProbe", "startupz"},
}};

// The network handlers kubelet runs from outside the pod.
constexpr std::array<std::string_view, 3> kNetworkHandlers = {"httpGet", "tcpSocket", "grpc"};

std::optional<std::string_view> networkHandler(const Json& probe) {
  for (const std::string_view handler : kNetworkHandlers) {
    const auto it = probe.find(handler);
    if (it != probe.end() && it->is_object()) return handler;
  }
  return std::nullopt;
}

// A named port's number from the container's own ports.
std::optional<Json> namedPort(const Json& container, const std::string& name) {
  const auto ports = container.find("ports");
  if (ports == container.end() || !ports->is_array()) return std::nullopt;
  for (const Json& port : *ports) {
    if (!port.is_object()) continue;
    const auto port_name = port.find("name");
    const auto number = port.find("containerPort");
    if (port_name != port.end() && *port_name == name && number != port.end() &&
        number->is_number_integer()) {
      return *number;
    }
  }
  return std::nullopt;
}

// The handler with its port as a number; nullopt when a named port does not resolve.
std::optional<Json> resolvedHandler(const Json& container, const Json& handler) {
  Json resolved = handler;
  const auto port = handler.find("port");
  if (port == handler.end() || !port->is_string()) return resolved;
  std::optional<Json> number = namedPort(container, port->get<std::string>());
  if (!number) return std::nullopt;
  resolved["port"] = *number;
  return resolved;
}

// The original, as the proxy needs it to run the probe itself.
Json proberOf(const Json& probe, std::string_view handler, const Json& resolved) {
  Json prober = Json::object();
  prober[std::string(handler)] = resolved;
  if (const auto timeout = probe.find("timeoutSeconds"); timeout != probe.end()) {
    prober["timeoutSeconds"] = *timeout;
  }
  return prober;
}

void rewriteProbe(Json& probe, const std::string& path, int admin_port) {
  for (const std::string_view handler : kNetworkHandlers) probe.erase(std::string(handler));
  probe["httpGet"] = Json{{"path", path}, {"port", admin_port}};
}

bool isRewritten(const Json& probe, const std::string& path) {
  const auto http_get = probe.find("httpGet");
  if (http_get == probe.end() || !http_get->is_object()) return false;
  const auto probe_path = http_get->find("path");
  return probe_path != http_get->end() && *probe_path == path;
}

void rewriteContainer(Json& container, int admin_port, Json& probers) {
  const auto name = container.find("name");
  if (name == container.end() || !name->is_string()) return;
  for (const ProbeField& field : kProbeFields) {
    const auto probe = container.find(field.field);
    if (probe == container.end() || !probe->is_object()) continue;
    const std::string path = appProbePath(name->get<std::string>(), field.field);
    // Already pointing at the proxy with no original to restore: recording it would make the
    // proxy probe itself.
    if (isRewritten(*probe, path)) continue;
    const std::optional<std::string_view> handler = networkHandler(*probe);
    if (!handler) continue;
    std::optional<Json> resolved = resolvedHandler(container, probe->at(std::string(*handler)));
    if (!resolved) continue;
    probers[path] = proberOf(*probe, *handler, *resolved);
    rewriteProbe(*probe, path, admin_port);
  }
}

void restoreProbe(Json& probe, const Json& prober) {
  probe.erase("httpGet");
  for (const auto& [key, value] : prober.items()) {
    if (key != "timeoutSeconds") probe[key] = value;
  }
}

void restoreContainer(Json& container, const Json& probers) {
  const auto name = container.find("name");
  if (name == container.end() || !name->is_string()) return;
  for (const ProbeField& field : kProbeFields) {
    const auto probe = container.find(field.field);
    if (probe == container.end() || !probe->is_object()) continue;
    const std::string path = appProbePath(name->get<std::string>(), field.field);
    const auto prober = probers.find(path);
    if (prober != probers.end() && prober->is_object() && isRewritten(*probe, path)) {
      restoreProbe(*probe, *prober);
    }
  }
}

Json* containersOf(Json& pod_spec) {
  if (!pod_spec.is_object()) return nullptr;
  const auto containers = pod_spec.find("containers");
  return containers != pod_spec.end() && containers->is_array() ? &*containers : nullptr;
}

}  // namespace

bool probeRewriteEnabled(const validation::Labels& annotations, bool mesh_default) {
  const auto it = annotations.find(std::string(kRewriteProbesAnnotation));
  if (it == annotations.end()) return mesh_default;
  if (it->second == "true") return true;
  if (it->second == "false") return false;
  return mesh_default;
}

std::string appProbePath(std::string_view container, std::string_view probe_field) {
  for (const ProbeField& field : kProbeFields) {
    if (field.field == probe_field) {
      return "/app-health/" + std::string(container) + "/" + std::string(field.endpoint);
    }
  }
  return "/app-health/" + std::string(container) + "/" + std::string(probe_field);
}

Json rewriteAppProbes(Json& pod_spec, int admin_port) {
  Json probers = Json::object();
  if (Json* containers = containersOf(pod_spec)) {
    for (Json& container : *containers) {
      if (container.is_object()) rewriteContainer(container, admin_port, probers);
    }
  }
  return probers;
}

void restoreAppProbes(Json& pod_spec, const Json& probers) {
  if (!probers.is_object() || probers.empty()) return;
  if (Json* containers = containersOf(pod_spec)) {
    for (Json& container : *containers) {
      if (container.is_object()) restoreContainer(container, probers);
    }
  }
}

}  // namespace peergate::webhook
