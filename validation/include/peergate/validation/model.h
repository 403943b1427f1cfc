#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::validation {

using Labels = std::map<std::string, std::string>;

enum class Mode { Unset, Disable, Permissive, Strict };

std::string_view toString(Mode mode);
// Accepts the CRD strings ("STRICT") and the proto integers ("3"); nullopt otherwise.
std::optional<Mode> parseMode(std::string_view text);

// Where an object came from, for messages like "examples/foo.yaml:12".
struct SourceLocation {
  std::string file;
  int document = 0;  // 0-based index of the document (or List item) in the file
  int line = 0;      // 1-based line of the object's start; 0 when unknown (JSON input)
};

struct ObjectMeta {
  std::string name;
  std::string namespace_name;
  Labels labels;
  Labels annotations;
  std::string creation_timestamp;  // RFC 3339 as given; "" when the object is not yet created
  std::string uid;
  struct OwnerReference {
    std::string kind;
    std::string name;
  };
  std::vector<OwnerReference> owners;
  SourceLocation source;
};

// Identifies an object in findings and explanations.
struct ObjectRef {
  std::string kind;  // "PeerAuthentication", "Deployment", "Pod", ...
  std::string namespace_name;
  std::string name;
  auto operator<=>(const ObjectRef&) const = default;
};

// A mode as written in the input. `text` keeps what the user wrote so validation can quote it;
// `mode` is Unset when the text is not a valid mode (validation reports it).
struct ModeValue {
  std::string text;  // "" when the field is absent
  Mode mode = Mode::Unset;
  bool valid = true;
};

struct PortLevelEntry {
  std::string key;              // the map key as written ("8080", "0", "abc")
  std::optional<int64_t> port;  // parsed key; nullopt when not an integer
  ModeValue mode;
};

struct PeerAuthentication {
  ObjectMeta meta;
  std::string api_version;  // "security.istio.io/v1" or "security.istio.io/v1beta1"
  // nullopt = no `selector` field; a present selector may still have zero labels.
  std::optional<Labels> selector;
  ModeValue mtls;  // spec.mtls.mode
  // nullopt = no `portLevelMtls` field; an empty vector = `portLevelMtls: {}`.
  std::optional<std::vector<PortLevelEntry>> port_level_mtls;

  bool hasSelectorLabels() const { return selector && !selector->empty(); }
  ObjectRef ref() const { return {"PeerAuthentication", meta.namespace_name, meta.name}; }
};

struct Namespace {
  ObjectMeta meta;
  ObjectRef ref() const { return {"Namespace", "", meta.name}; }
};

struct Probe {
  std::string container;
  std::string type;             // "readiness", "liveness", "startup"
  std::string handler;          // "httpGet", "tcpSocket", "grpc", "exec"
  std::optional<int64_t> port;  // resolved container port; nullopt for exec or unresolvable
};

struct ContainerPort {
  std::string container;
  std::string name;
  int64_t port = 0;
  std::string protocol = "TCP";
};

// A pod spec as Pods and controller templates carry it: only what policy decisions need.
struct PodSpecSummary {
  std::vector<std::string> containers;
  std::vector<std::string> init_containers;
  std::vector<ContainerPort> ports;
  std::vector<Probe> probes;
  std::string service_account = "default";
  bool host_network = false;
};

// A Pod or a controller's pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob). Labels and annotations are the pod's (template's), not the controller's.
struct Workload {
  ObjectMeta meta;   // controller/pod metadata (name, namespace, owners, source)
  std::string kind;  // "Pod", "Deployment", ...
  Labels pod_labels;
  Labels pod_annotations;
  PodSpecSummary spec;
  bool is_live = false;  // a Pod read back from a cluster (has uid or status)
  // status.podIP and every status.podIPs[].ip (dual-stack), canonical (ip_address.h), each once.
  std::vector<std::string> pod_ips;
  ObjectRef ref() const { return {kind, meta.namespace_name, meta.name}; }
};

struct ServicePort {
  std::string name;
  int64_t port = 0;
  std::optional<int64_t> target_port_number;  // targetPort as a number
  std::string target_port_name;               // targetPort as a name
};

struct Service {
  ObjectMeta meta;
  std::optional<Labels> selector;  // nullopt: no selector (endpoints managed elsewhere)
  std::vector<ServicePort> ports;
  ObjectRef ref() const { return {"Service", meta.namespace_name, meta.name}; }
};

struct DestinationRulePortTls {
  int64_t port = 0;
  std::string tls_mode;  // "DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"
};

struct DestinationRule {
  ObjectMeta meta;
  std::string host;
  std::string tls_mode;                          // trafficPolicy.tls.mode; "" when absent
  std::vector<DestinationRulePortTls> port_tls;  // trafficPolicy.portLevelSettings[].tls
  std::vector<std::string> export_to;
  ObjectRef ref() const { return {"DestinationRule", meta.namespace_name, meta.name}; }
};

// Mesh-wide settings (Istio's `istio` ConfigMap `data.mesh`, or peergate's own).
struct MeshConfig {
  std::string root_namespace = "istio-system";
  std::string trust_domain = "cluster.local";
  bool rewrite_app_http_probes = true;  // sidecarInjectorWebhook.rewriteAppHTTPProbe
  bool enable_namespaces_by_default = false;
  std::string auto_inject_policy = "enabled";  // global.proxy.autoInject
  bool from_input = false;                     // true when the input carried a mesh config
  bool operator==(const MeshConfig&) const = default;
};

// Everything decoded from the inputs, in input order. Plain data; `ClusterState` indexes it.
struct Inputs {
  std::vector<PeerAuthentication> peer_authentications;
  std::vector<Namespace> namespaces;
  std::vector<Workload> workloads;
  std::vector<Service> services;
  std::vector<DestinationRule> destination_rules;
  MeshConfig mesh;
  std::map<std::string, int> skipped_kinds;  // unknown kinds, counted, never an error
};

}  // namespace peergate::validation
