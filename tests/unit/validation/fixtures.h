#pragma once

// Builders for engine tests: the smallest objects that carry what a rule reads.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "peergate/validation/analyze.h"
#include "peergate/validation/cluster_state.h"
#include "peergate/validation/finding.h"
#include "peergate/validation/model.h"
#include "peergate/validation/observations.h"

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

// A live Pod that Deployment `deployment` created through ReplicaSet
// "<deployment>-<hash>" (ownerReferences and the pod-template-hash label, as kubectl shows it).
inline Workload deploymentPod(const WorkloadSpec& deployment, const std::string& hash,
                              const std::string& suffix, bool proxy) {
  WorkloadSpec spec = deployment;
  spec.name = deployment.name + "-" + hash + "-" + suffix;
  spec.kind = "Pod";
  spec.live = true;
  spec.proxy = proxy;
  spec.labels["pod-template-hash"] = hash;
  Workload pod = workload(spec);
  pod.meta.uid = "uid-" + spec.name;
  pod.meta.owners.push_back({"ReplicaSet", deployment.name + "-" + hash});
  return pod;
}

// Adds a kubelet probe to the first container ("app"); `port` is nullopt for exec probes.
inline Workload withProbe(Workload w, std::string type, std::string handler,
                          std::optional<int64_t> port) {
  w.spec.probes.push_back({"app", std::move(type), std::move(handler), port});
  return w;
}

// Adds a trafficPolicy.portLevelSettings entry with a tls mode.
inline DestinationRule withPortTls(DestinationRule dr, int64_t port, std::string tls_mode) {
  dr.port_tls.push_back({port, std::move(tls_mode)});
  return dr;
}

inline Observation observation(std::string ns, std::string workload_name, std::string pod,
                               int64_t port, std::string security, int64_t count = 3) {
  Observation obs;
  obs.namespace_name = std::move(ns);
  obs.workload = std::move(workload_name);
  obs.pod = std::move(pod);
  obs.port = port;
  obs.security = std::move(security);
  obs.source_ip = "10.0.0.5";
  obs.count = count;
  obs.last_seen = "2026-08-01T12:00:00Z";
  return obs;
}

// A ClusterState and its analysis, built together so the analysis' pointers stay valid.
struct Checked {
  explicit Checked(Inputs inputs, const Observations* observations = nullptr)
      : state(std::move(inputs)), analysis(analyze(state, observations)) {}
  ClusterState state;
  Analysis analysis;
};

// The findings with `code`, in output order.
inline std::vector<Finding> findingsWith(const std::vector<Finding>& findings, FindingCode code) {
  std::vector<Finding> out;
  for (const Finding& f : findings) {
    if (f.code == code) out.push_back(f);
  }
  return out;
}

// One line per finding ("PG0104 Error PeerAuthentication foo/b metadata.name: message"), for
// INFO/CAPTURE so a failing assertion shows what the engine found.
inline std::string describeFindings(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& f : findings) {
    out += codeString(f.code) + " " + std::string(toString(f.severity)) + " " + f.object.kind +
           " " + f.object.namespace_name + "/" + f.object.name + " " + f.path + ": " + f.message +
           "\n";
  }
  return out.empty() ? "(no findings)" : out;
}

}  // namespace peergate::validation::testing
