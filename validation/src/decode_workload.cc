#include <algorithm>
#include <array>
#include <utility>

#include "decode_kinds.h"
#include "decode_messages.h"
#include "peergate/validation/ip_address.h"

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kProbes = {{
    {"readinessProbe", "readiness"},
    {"livenessProbe", "liveness"},
    {"startupProbe", "startup"},
}};
constexpr std::array<std::string_view, 3> kPortHandlers = {"httpGet", "tcpSocket", "grpc"};

bool isDigits(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A probe's port is a number or the name of one of the container's ports.
std::optional<int64_t> resolveProbePort(const Json& handler, const Path& handler_path,
                                        const std::vector<ContainerPort>& container_ports,
                                        FieldReader& reader) {
  const Path port_path = handler_path.key("port");
  const Json* port = reader.value(handler, port_path);
  if (port == nullptr) return std::nullopt;
  if (port->is_number_integer()) return reader.integer(handler, port_path);
  if (!port->is_string()) {
    reader.expected(port_path, "a port number or name", *port);
    return std::nullopt;
  }
  const auto& name = port->get_ref<const std::string&>();
  if (isDigits(name) && name.size() <= 9) return std::stoll(name);
  for (const ContainerPort& candidate : container_ports) {
    if (candidate.name == name) return candidate.port;
  }
  return std::nullopt;
}

void readProbes(const Json& container, const Path& container_path, const std::string& name,
                const std::vector<ContainerPort>& container_ports, FieldReader& reader,
                std::vector<Probe>& probes) {
  for (const auto& [field, type] : kProbes) {
    const Path probe_path = container_path.key(field);
    const Json* probe_object = reader.map(container, probe_path);
    if (probe_object == nullptr) continue;
    Probe probe;
    probe.container = name;
    probe.type = std::string(type);
    for (const std::string_view handler_name : kPortHandlers) {
      const Path handler_path = probe_path.key(handler_name);
      const Json* handler = reader.map(*probe_object, handler_path);
      if (handler == nullptr) continue;
      probe.handler = std::string(handler_name);
      probe.port = resolveProbePort(*handler, handler_path, container_ports, reader);
      break;
    }
    if (probe.handler.empty()) {
      const Path exec_path = probe_path.key("exec");
      if (reader.map(*probe_object, exec_path) != nullptr) probe.handler = "exec";
    }
    if (!probe.handler.empty()) probes.push_back(std::move(probe));
  }
}

std::vector<ContainerPort> readContainerPorts(const Json& container, const Path& container_path,
                                              const std::string& name, FieldReader& reader) {
  std::vector<ContainerPort> ports;
  const Path ports_path = container_path.key("ports");
  const Json* list = reader.list(container, ports_path);
  if (list == nullptr) return ports;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Path port_path = ports_path.index(i);
    const Json& entry = (*list)[i];
    if (!entry.is_object()) {
      reader.expected(port_path, "a map with containerPort", entry);
      continue;
    }
    ContainerPort port;
    port.container = name;
    const Path number_path = port_path.key("containerPort");
    if (auto number = reader.integer(entry, number_path)) {
      port.port = *number;
    } else if (reader.value(entry, number_path) == nullptr) {
      reader.required(number_path, "every container port needs containerPort");
    }
    const Path name_path = port_path.key("name");
    if (auto port_name = reader.text(entry, name_path)) port.name = std::move(*port_name);
    const Path protocol_path = port_path.key("protocol");
    if (auto protocol = reader.text(entry, protocol_path)) port.protocol = std::move(*protocol);
    ports.push_back(std::move(port));
  }
  return ports;
}

void readContainers(const Json& spec, const Path& list_path, bool init, FieldReader& reader,
                    PodSpecSummary& summary) {
  const Json* list = reader.list(spec, list_path);
  if (list == nullptr) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Path container_path = list_path.index(i);
    const Json& container = (*list)[i];
    if (!container.is_object()) {
      reader.expected(container_path, "a container (a map with name and image)", container);
      continue;
    }
    const Path name_path = container_path.key("name");
    std::string name = reader.text(container, name_path).value_or("");
    auto ports = readContainerPorts(container, container_path, name, reader);
    if (!init) readProbes(container, container_path, name, ports, reader, summary.probes);
    summary.ports.insert(summary.ports.end(), std::make_move_iterator(ports.begin()),
                         std::make_move_iterator(ports.end()));
    (init ? summary.init_containers : summary.containers).push_back(std::move(name));
  }
}

void readPodSpec(const Json& spec, const Path& spec_path, FieldReader& reader,
                 PodSpecSummary& summary) {
  const Path containers_path = spec_path.key("containers");
  readContainers(spec, containers_path, /*init=*/false, reader, summary);
  // Init containers count too: a native sidecar (restartPolicy: Always) may be the proxy.
  const Path init_path = spec_path.key("initContainers");
  readContainers(spec, init_path, /*init=*/true, reader, summary);

  const Path account_path = spec_path.key("serviceAccountName");
  const Path legacy_account_path = spec_path.key("serviceAccount");
  if (auto account = reader.text(spec, account_path); account && !account->empty()) {
    summary.service_account = std::move(*account);
  } else if (auto legacy = reader.text(spec, legacy_account_path); legacy && !legacy->empty()) {
    summary.service_account = std::move(*legacy);
  }
  const Path host_network_path = spec_path.key("hostNetwork");
  summary.host_network = reader.boolean(spec, host_network_path).value_or(false);
}

// One pod IP: canonical text, or a "schema.value" error naming the field. "" reads as absent
// (a pod not yet scheduled).
void addPodIp(const Json& parent, const Path& path, FieldReader& reader,
              std::vector<std::string>& ips) {
  const std::optional<std::string> text = reader.text(parent, path);
  if (!text || text->empty()) return;
  std::optional<std::string> ip = canonicalIp(*text);
  if (!ip) {
    reader.report("schema.value", path,
                  quoteText(*text) + " is not an IP address (such as 10.1.0.7 or fd00::7)");
    return;
  }
  if (std::find(ips.begin(), ips.end(), *ip) == ips.end()) ips.push_back(std::move(*ip));
}

// status.podIP, and status.podIPs: [{ip: 10.1.0.7}, {ip: fd00::7}] of a dual-stack pod (whose
// first entry repeats podIP).
void readPodIps(const Json& status, const Path& status_path, FieldReader& reader,
                std::vector<std::string>& ips) {
  const Path pod_ip_path = status_path.key("podIP");
  addPodIp(status, pod_ip_path, reader, ips);
  const Path pod_ips_path = status_path.key("podIPs");
  const Json* list = reader.list(status, pod_ips_path);
  if (list == nullptr) return;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Path entry_path = pod_ips_path.index(i);
    const Json& entry = (*list)[i];
    if (!entry.is_object()) {
      reader.expected(entry_path, "a map with ip", entry);
      continue;
    }
    const Path ip_path = entry_path.key("ip");
    if (reader.value(entry, ip_path) == nullptr) {
      reader.required(ip_path, "every podIPs entry names its address");
      continue;
    }
    addPodIp(entry, ip_path, reader, ips);
  }
}

}  // namespace

bool decodeWorkload(const Json& object, std::string_view kind, FieldReader& reader,
                    Inputs& inputs) {
  Workload workload;
  workload.kind = std::string(kind);
  workload.meta = decodeObjectMeta(object, reader, /*namespaced=*/true);

  const Path root;
  const Path spec_path = root.key("spec");
  const Path job_template_path = spec_path.key("jobTemplate");
  const Path job_spec_path = job_template_path.key("spec");
  const Path template_path = (kind == "CronJob" ? job_spec_path : spec_path).key("template");
  const Path template_metadata_path = template_path.key("metadata");
  const Path template_spec_path = template_path.key("spec");
  const Path status_path = root.key("status");

  const Json* spec = reader.map(object, spec_path);
  if (kind == "Pod") {
    workload.pod_labels = workload.meta.labels;
    workload.pod_annotations = workload.meta.annotations;
    if (spec != nullptr) readPodSpec(*spec, spec_path, reader, workload.spec);
  } else {
    const int errors_before = reader.errorCount();
    const Json* pod_template = nullptr;
    if (spec != nullptr && kind == "CronJob") {
      if (const Json* job_template = reader.map(*spec, job_template_path)) {
        if (const Json* job_spec = reader.map(*job_template, job_spec_path)) {
          pod_template = reader.map(*job_spec, template_path);
        }
      }
    } else if (spec != nullptr) {
      pod_template = reader.map(*spec, template_path);
    }
    if (pod_template == nullptr && reader.errorCount() == errors_before) {
      reader.required(template_path, "a " + workload.kind + " needs a pod template");
    }
    if (pod_template != nullptr) {
      if (const Json* metadata = reader.map(*pod_template, template_metadata_path)) {
        const Path labels_path = template_metadata_path.key("labels");
        workload.pod_labels = reader.stringMap(*metadata, labels_path).value_or(Labels{});
        const Path annotations_path = template_metadata_path.key("annotations");
        workload.pod_annotations = reader.stringMap(*metadata, annotations_path).value_or(Labels{});
      }
      if (const Json* pod_spec = reader.map(*pod_template, template_spec_path)) {
        readPodSpec(*pod_spec, template_spec_path, reader, workload.spec);
      }
    }
  }

  // Read back from a cluster (a snapshot, `kubectl get -o yaml`) rather than a manifest.
  workload.is_live = !workload.meta.uid.empty() || reader.value(object, status_path) != nullptr;
  if (kind == "Pod") {
    if (const Json* status = reader.map(object, status_path)) {
      readPodIps(*status, status_path, reader, workload.pod_ips);
    }
  }

  if (reader.failed()) return false;
  inputs.workloads.push_back(std::move(workload));
  return true;
}

}  // namespace peergate::validation::detail
