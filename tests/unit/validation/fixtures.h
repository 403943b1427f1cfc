#pragma once

// Builders for engine tests: the smallest objects that carry what a rule reads.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "peergate/validation/model.h"

namespace peergate::validation::testing {

inline ObjectMeta meta(std::string ns, std::string name, Labels labels = {},
                       std::string created = "") {
  ObjectMeta m;
  m.namespace_name = std::move(ns);
  m.name = std::move(name);
  m.labels = std::move(labels);
  m.creation_timestamp = std::move(created);
  return m;
}

inline ModeValue modeValue(Mode mode) {
  ModeValue value;
  value.mode = mode;
  value.text = mode == Mode::Unset ? "" : std::string(toString(mode));
  return value;
}

struct PolicySpec {
  std::string ns;
  std::string name;
  Mode mode = Mode::Unset;
  std::optional<Labels> selector = std::nullopt;
  std::vector<std::pair<int64_t, Mode>> ports = {};
  std::string created = "";
};

inline PeerAuthentication policy(const PolicySpec& spec) {
  PeerAuthentication pa;
  pa.meta = meta(spec.ns, spec.name, {}, spec.created);
  pa.api_version = "security.istio.io/v1";
  pa.selector = spec.selector;
  pa.mtls = modeValue(spec.mode);
  if (!spec.ports.empty()) {
    pa.port_level_mtls.emplace();
    for (const auto& [port, mode] : spec.ports) {
      pa.port_level_mtls->push_back({std::to_string(port), port, modeValue(mode)});
    }
  }
  return pa;
}

inline Namespace ns(std::string name, Labels labels = {}) {
  Namespace n;
  n.meta = meta(name, name, std::move(labels));
  n.meta.namespace_name = "";
  return n;
}

struct WorkloadSpec {
  std::string ns;
  std::string name;
  Labels labels = {};
  std::vector<int64_t> ports = {};
  bool proxy = false;  // a proxy container is already in the spec
  std::string kind = "Deployment";
  Labels annotations = {};
  bool live = false;
  bool host_network = false;
};

inline Workload workload(const WorkloadSpec& spec) {
  Workload w;
  w.meta = meta(spec.ns, spec.name);
  w.kind = spec.kind;
  w.pod_labels = spec.labels;
  w.pod_annotations = spec.annotations;
  w.is_live = spec.live;
  w.spec.host_network = spec.host_network;
  w.spec.containers.push_back("app");
  if (spec.proxy) w.spec.containers.push_back("istio-proxy");
  for (int64_t port : spec.ports) w.spec.ports.push_back({"app", "", port, "TCP"});
  return w;
}

inline Service service(std::string ns, std::string name, Labels selector,
                       std::vector<std::pair<int64_t, int64_t>> port_to_target) {
  Service svc;
  svc.meta = meta(std::move(ns), std::move(name));
  svc.selector = std::move(selector);
  for (const auto& [port, target] : port_to_target) {
    svc.ports.push_back({"http", port, target, ""});
  }
  return svc;
}

inline DestinationRule destinationRule(std::string ns, std::string name, std::string host,
                                       std::string tls_mode) {
  DestinationRule dr;
  dr.meta = meta(std::move(ns), std::move(name));
  dr.host = std::move(host);
  dr.tls_mode = std::move(tls_mode);
  return dr;
}

}  // namespace peergate::validation::testing
