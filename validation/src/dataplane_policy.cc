#include "peergate/validation/dataplane_policy.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "peergate/validation/injection.h"
#include "peergate/validation/ip_address.h"
#include "peergate/validation/resolve.h"

namespace peergate::validation {
namespace {

using nlohmann::json;

Error policyError(std::string code, std::string message) {
  Error error;
  error.code = std::move(code);
  error.message = std::move(message);
  return error;
}

// The live Pod named `name`, else any workload of that name (a template, for laptop runs).
const Workload* findOwnWorkload(const ClusterState& state, const std::string& ns,
                                const std::string& name) {
  const Workload* fallback = nullptr;
  for (const Workload* workload : state.objects().workloads) {
    if (workload->meta.namespace_name != ns || workload->meta.name != name) continue;
    if (workload->kind == "Pod") return workload;
    if (fallback == nullptr) fallback = workload;
  }
  return fallback;
}

// The workload a pod folds into (its Deployment, ...), or the pod itself.
const Workload* representativeOf(const ClusterState& state, const Workload& pod) {
  for (const Workload* workload : state.workloads()) {
    if (workload == &pod) return workload;
    const auto& instances = state.instancesOf(*workload);
    if (std::find(instances.begin(), instances.end(), &pod) != instances.end()) return workload;
  }
  return &pod;
}

std::string serviceAccountOf(const Workload& pod) {
  return pod.spec.service_account.empty() ? "default" : pod.spec.service_account;
}

std::string spiffeIdOf(const std::string& trust_domain, const Workload& pod) {
  return "spiffe://" + trust_domain + "/ns/" + pod.meta.namespace_name + "/sa/" +
         pod.spec.service_account;
}

// A field of the feed JSON, or an error naming it.
template <typename T>
Result<T> field(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) {
    return policyError("feed.decode", where + ": missing \"" + std::string(key) + "\"");
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return policyError("feed.decode", where + "." + key + ": wrong type");
  }
}

std::optional<Error> decodePorts(const json& ports, DataplanePolicy& policy) {
  if (!ports.is_object()) return policyError("feed.decode", "ports: expected an object");
  for (const auto& [key, value] : ports.items()) {
    std::optional<Mode> mode =
        value.is_string() ? parseMode(value.get<std::string>()) : std::nullopt;
    char* end = nullptr;
    const long long port = std::strtoll(key.c_str(), &end, 10);
    if (!mode || end == key.c_str() || *end != '\0' || port < 1 || port > 65535) {
      return policyError("feed.decode", "ports." + key + ": expected a port and a mode");
    }
    policy.port_modes[port] = *mode;
  }
  return std::nullopt;
}

std::optional<Error> decodePeers(const json& object, PeerIndex& index) {
  const json& peers = object.contains("peers") ? object.at("peers") : json::array();
  const json& others = object.contains("workloads") ? object.at("workloads") : json::object();
  if (!peers.is_array() || !others.is_object()) {
    return policyError("feed.decode", "peers/workloads: expected an array and an object");
  }
  for (const json& peer : peers) {
    if (!peer.is_object()) return policyError("feed.decode", "peers[]: expected objects");
    auto ip = field<std::string>(peer, "ip", "peers[]");
    auto id = field<std::string>(peer, "spiffeId", "peers[]");
    auto workload = field<std::string>(peer, "workload", "peers[]");
    if (!ip) return ip.error();
    if (!id) return id.error();
    if (!workload) return workload.error();
    const std::string key = canonicalIp(ip.value()).value_or(ip.value());
    index.workload_by_ip[key] = workload.value();
    index.proxied_peers[key] = {std::move(id).value(), std::move(workload).value()};
  }
  for (const auto& [ip, workload] : others.items()) {
    if (!workload.is_string()) return policyError("feed.decode", "workloads." + ip + ": string");
    index.workload_by_ip[canonicalIp(ip).value_or(ip)] = workload.get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

Mode DataplanePolicy::modeForPort(int64_t port) const {
  auto it = port_modes.find(port);
  const Mode mode = it == port_modes.end() ? workload_mode : it->second;
  return mode == Mode::Unset ? Mode::Permissive : mode;
}

const ProxiedPeer* DataplanePolicy::peerFor(const std::string& ip) const {
  auto it = peers->proxied_peers.find(canonicalIp(ip).value_or(ip));
  return it == peers->proxied_peers.end() ? nullptr : &it->second;
}

std::string DataplanePolicy::workloadAt(const std::string& ip) const {
  auto it = peers->workload_by_ip.find(canonicalIp(ip).value_or(ip));
  return it == peers->workload_by_ip.end() ? std::string() : it->second;
}

PeerIndex indexPeers(const ClusterState& state, const std::string& trust_domain) {
  PeerIndex index;
  for (const Workload* workload : state.workloads()) {
    std::vector<const Workload*> pods = state.instancesOf(*workload);
    pods.push_back(workload);
    const std::string name = workload->meta.namespace_name + "/" + workload->meta.name;
    for (const Workload* pod : pods) {
      if (pod->pod_ips.empty()) continue;
      const Namespace* ns = state.findNamespace(pod->meta.namespace_name);
      const bool proxied = decideDataplane(*pod, ns, state.mesh()).injected_now;
      // Every address of a dual-stack pod: an IPv6 destination needs its identity as well.
      for (const std::string& ip : pod->pod_ips) {
        index.workload_by_ip[ip] = name;
        if (proxied) index.proxied_peers[ip] = {spiffeIdOf(trust_domain, *pod), name};
      }
    }
  }
  return index;
}

Result<DataplanePolicy> resolveDataplanePolicy(const ClusterState& state, const std::string& ns,
                                               const std::string& name,
                                               const std::string& trust_domain,
                                               std::shared_ptr<const PeerIndex> peers) {
  const Workload* own = findOwnWorkload(state, ns, name);
  if (own == nullptr) {
    return policyError("proxy.pod_not_found",
                       "pod " + ns + "/" + name +
                           " is not in the cluster state: add the Pod (with its labels and "
                           "serviceAccountName) or fix --pod");
  }
  DataplanePolicy policy;
  policy.trust_domain = trust_domain.empty() ? state.mesh().trust_domain : trust_domain;
  policy.pod_namespace = ns;
  policy.pod_name = name;
  policy.service_account = serviceAccountOf(*own);
  policy.workload_name = representativeOf(state, *own)->meta.name;
  const EffectivePolicy effective = resolveWorkload(state, *own);
  policy.workload_mode = effective.mode;
  for (const PortPolicy& port : effective.ports) policy.port_modes[port.port] = port.mode;
  policy.peers = std::move(peers);
  return policy;
}

Result<DataplanePolicy> buildDataplanePolicy(const ClusterState& state, const std::string& ns,
                                             const std::string& name,
                                             const std::string& trust_domain) {
  const std::string domain = trust_domain.empty() ? state.mesh().trust_domain : trust_domain;
  return resolveDataplanePolicy(state, ns, name, domain,
                                std::make_shared<const PeerIndex>(indexPeers(state, domain)));
}

json ownPolicyToJson(const DataplanePolicy& policy) {
  json ports = json::object();
  for (const auto& [port, mode] : policy.port_modes) {
    ports[std::to_string(port)] = std::string(toString(mode));
  }
  return json{{"trustDomain", policy.trust_domain},
              {"pod",
               {{"namespace", policy.pod_namespace},
                {"name", policy.pod_name},
                {"serviceAccount", policy.service_account}}},
              {"workload", policy.workload_name},
              {"mode", std::string(toString(policy.workload_mode))},
              {"ports", std::move(ports)}};
}

json peersToJson(const PeerIndex& peers) {
  json proxied = json::array();
  for (const auto& [ip, peer] : peers.proxied_peers) {
    proxied.push_back({{"ip", ip}, {"spiffeId", peer.spiffe_id}, {"workload", peer.workload}});
  }
  json others = json::object();
  for (const auto& [ip, workload] : peers.workload_by_ip) {
    if (!peers.proxied_peers.contains(ip)) others[ip] = workload;
  }
  return json{{"peers", std::move(proxied)}, {"workloads", std::move(others)}};
}

Result<DataplanePolicy> dataplanePolicyFromJson(const json& object) {
  if (!object.is_object()) return policyError("feed.decode", "policy: expected a JSON object");
  auto domain = field<std::string>(object, "trustDomain", "policy");
  auto pod = field<json>(object, "pod", "policy");
  auto workload = field<std::string>(object, "workload", "policy");
  auto mode_text = field<std::string>(object, "mode", "policy");
  if (!domain) return domain.error();
  if (!pod) return pod.error();
  if (!workload) return workload.error();
  if (!mode_text) return mode_text.error();
  auto ns = field<std::string>(pod.value(), "namespace", "policy.pod");
  auto name = field<std::string>(pod.value(), "name", "policy.pod");
  if (!ns) return ns.error();
  if (!name) return name.error();
  const std::optional<Mode> mode = parseMode(mode_text.value());
  if (!mode) return policyError("feed.decode", "policy.mode: unknown mode " + mode_text.value());
  DataplanePolicy policy;
  policy.trust_domain = std::move(domain).value();
  policy.pod_namespace = std::move(ns).value();
  policy.pod_name = std::move(name).value();
  policy.service_account = pod.value().value("serviceAccount", "");
  policy.workload_name = std::move(workload).value();
  policy.workload_mode = *mode;
  if (auto error = decodePorts(object.value("ports", json::object()), policy)) return *error;
  PeerIndex index;
  if (auto error = decodePeers(object, index)) return *error;
  policy.peers = std::make_shared<const PeerIndex>(std::move(index));
  return policy;
}

}  // namespace peergate::validation
