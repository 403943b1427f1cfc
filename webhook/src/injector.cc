#include "peergate/webhook/injector.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "injection_annotations.h"
#include "peergate/validation/injection.h"
#include "probe_rewrite.h"

namespace peergate::webhook {
namespace {

using Json = nlohmann::json;
using validation::Error;
using validation::Labels;

constexpr std::string_view kStatusAnnotation = "sidecar.istio.io/status";
constexpr std::string_view kNativeSidecarAnnotation = "sidecar.istio.io/nativeSidecar";
constexpr std::string_view kDefaultContainerAnnotation = "kubectl.kubernetes.io/default-container";
constexpr std::string_view kInjectLabel = "sidecar.istio.io/inject";
constexpr std::string_view kInjectionNamespaceLabel = "istio-injection";
constexpr std::string_view kRevisionLabel = "istio.io/rev";
constexpr std::string_view kDataplaneModeLabel = "istio.io/dataplane-mode";

constexpr std::string_view kInitName = "peergate-init";
constexpr std::string_view kProxyName = "peergate-proxy";
constexpr std::string_view kIdentityVolume = "peergate-identity";
constexpr std::string_view kTokenVolume = "peergate-token";
// The mesh root that verifies the control plane (key root-cert.pem), one ConfigMap per namespace
// as Istio's istio-ca-root-cert.
constexpr std::string_view kCaRootVolume = "peergate-ca-root";
constexpr std::string_view kProbersEnv = "PEERGATE_APP_PROBERS";
// Probers recorded by Istio's injector, read back when a pod Istio injected is re-injected.
constexpr std::string_view kIstioProbersEnv = "ISTIO_KUBE_APP_PROBERS";

constexpr std::array<int, 9> kReservedPorts = {15000, 15001, 15004, 15006, 15008,
                                               15020, 15021, 15053, 15090};
constexpr std::string_view kReservedPortList =
    "15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090";

// ---------------------------------------------------------------------------------------------
// Reading the input: type-checked, never operator[] on it.

const Json& member(const Json& object, std::string_view key) {
  static const Json kAbsent;
  if (!object.is_object()) return kAbsent;
  const auto it = object.find(key);
  return it == object.end() ? kAbsent : *it;
}

std::string stringMember(const Json& object, std::string_view key) {
  const Json& value = member(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

Labels stringMap(const Json& object) {
  Labels out;
  if (!object.is_object()) return out;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) out.emplace(key, value.get<std::string>());
  }
  return out;
}

Labels labelsOf(const Json& pod) { return stringMap(member(member(pod, "metadata"), "labels")); }

Labels annotationsOf(const Json& pod) {
  return stringMap(member(member(pod, "metadata"), "annotations"));
}

const std::string* find(const Labels& labels, std::string_view key) {
  const auto it = labels.find(std::string(key));
  return it == labels.end() ? nullptr : &it->second;
}

std::vector<std::string> namesIn(const Json& list) {
  std::vector<std::string> names;
  if (!list.is_array()) return names;
  for (const Json& item : list) {
    if (item.is_string()) names.push_back(item.get<std::string>());
    if (item.is_object()) names.push_back(stringMember(item, "name"));
  }
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::optional<std::int64_t> runAsUser(const Json& object) {
  const Json& uid = member(member(object, "securityContext"), "runAsUser");
  if (!uid.is_number_integer()) return std::nullopt;
  return uid.get<std::int64_t>();
}

// ---------------------------------------------------------------------------------------------
// Errors

Error injectionError(std::string code, std::string path, std::string message) {
  Error error;
  error.code = std::move(code);
  error.document = -1;
  error.path = std::move(path);
  error.message = std::move(message);
  return error;
}

Error invalidPod(std::string path, std::string message) {
  return injectionError("inject.invalid_pod", std::move(path), std::move(message));
}

bool isListOrAbsent(const Json& value) { return value.is_null() || value.is_array(); }
bool isMapOrAbsent(const Json& value) { return value.is_null() || value.is_object(); }

std::optional<Error> containersError(const Json& containers) {
  if (!containers.is_array()) {
    return invalidPod("spec.containers", "a pod needs a list of containers");
  }
  for (std::size_t i = 0; i < containers.size(); ++i) {
    if (!member(containers[i], "name").is_string()) {
      return invalidPod("spec.containers[" + std::to_string(i) + "].name",
                        "every container needs a name");
    }
  }
  return std::nullopt;
}

// What the injector relies on; anything else about the pod is the apiserver's to judge.
std::optional<Error> shapeError(const Json& pod) {
  if (!pod.is_object()) return invalidPod("", "expected a Pod (a JSON object)");
  const Json& metadata = member(pod, "metadata");
  if (!isMapOrAbsent(metadata)) return invalidPod("metadata", "expected an object");
  for (const std::string_view field : {"labels", "annotations"}) {
    if (!isMapOrAbsent(member(metadata, field))) {
      return invalidPod("metadata." + std::string(field), "expected a map of strings");
    }
  }
  const Json& spec = member(pod, "spec");
  if (!spec.is_object()) return invalidPod("spec", "a pod needs a spec");
  for (const std::string_view field : {"initContainers", "volumes", "imagePullSecrets"}) {
    if (!isListOrAbsent(member(spec, field))) {
      return invalidPod("spec." + std::string(field), "expected a list");
    }
  }
  return containersError(member(spec, "containers"));
}

// ---------------------------------------------------------------------------------------------
// Stripping an earlier injection (re-injection is idempotent)

Json statusOf(const Json& pod) {
  const std::string text =
      stringMember(member(member(pod, "metadata"), "annotations"), kStatusAnnotation);
  Json status = Json::parse(text, nullptr, false);
  return status.is_object() ? status : Json();
}

void removeNamed(Json& spec, std::string_view field, const std::vector<std::string>& names) {
  const auto list = spec.find(field);
  if (list == spec.end() || !list->is_array()) return;
  Json kept = Json::array();
  for (Json& item : *list) {
    if (!contains(names, stringMember(item, "name"))) kept.push_back(std::move(item));
  }
  *list = std::move(kept);
}

Json probersIn(const Json& container) {
  const Json& env = member(container, "env");
  if (!env.is_array()) return Json::object();
  for (const Json& variable : env) {
    const std::string name = stringMember(variable, "name");
    if (name != kProbersEnv && name != kIstioProbersEnv) continue;
    Json probers = Json::parse(stringMember(variable, "value"), nullptr, false);
    if (probers.is_object()) return probers;
  }
  return Json::object();
}

// The originals the injected proxy recorded when probes were rewritten.
Json recordedProbers(const Json& spec, const std::vector<std::string>& injected) {
  for (const std::string_view field : {"containers", "initContainers"}) {
    const Json& list = member(spec, field);
    if (!list.is_array()) continue;
    for (const Json& container : list) {
      if (contains(injected, stringMember(container, "name"))) {
        Json probers = probersIn(container);
        if (!probers.empty()) return probers;
      }
    }
  }
  return Json::object();
}

// The pod as it was before the injection its sidecar.istio.io/status annotation records.
Json stripInjected(const Json& pod) {
  const Json status = statusOf(pod);
  if (status.is_null()) return pod;
  Json out = pod;
  Json& spec = out.at("spec");
  const std::vector<std::string> containers = namesIn(member(status, "containers"));
  const std::vector<std::string> init_containers = namesIn(member(status, "initContainers"));
  std::vector<std::string> injected = containers;
  injected.insert(injected.end(), init_containers.begin(), init_containers.end());
  const Json probers = recordedProbers(spec, injected);
  removeNamed(spec, "initContainers", init_containers);
  removeNamed(spec, "containers", containers);
  removeNamed(spec, "volumes", namesIn(member(status, "volumes")));
  removeNamed(spec, "imagePullSecrets", namesIn(member(status, "imagePullSecrets")));
  out.at("metadata").at("annotations").erase(std::string(kStatusAnnotation));
  restoreAppProbes(spec, probers);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The decision: validation::decideDataplane, so `peergate check` and the injector agree

std::string namespaceOf(const Json& pod, const PodContext& context) {
  if (!context.namespace_name.empty()) return context.namespace_name;
  std::string name = stringMember(member(pod, "metadata"), "namespace");
  return name.empty() ? "default" : name;
}

validation::Workload workloadOf(const Json& pod, const std::string& namespace_name) {
  validation::Workload workload;
  workload.kind = "Pod";
  workload.meta.name = stringMember(member(pod, "metadata"), "name");
  workload.meta.namespace_name = namespace_name;
  workload.pod_labels = labelsOf(pod);
  workload.pod_annotations = annotationsOf(pod);
  const Json& spec = member(pod, "spec");
  workload.spec.containers = namesIn(member(spec, "containers"));
  workload.spec.init_containers = namesIn(member(spec, "initContainers"));
  workload.spec.host_network = member(spec, "hostNetwork") == true;
  return workload;
}

struct OfflineNamespace {
  validation::Namespace ns;
  bool assumed_enabled = false;  // istio-injection=enabled was assumed, not read
};

// kube-inject semantics: a namespace that does not choose a dataplane is taken as enabled.
OfflineNamespace offlineNamespace(const PodContext& context, const std::string& name,
                                  const Labels& pod_labels) {
  OfflineNamespace out;
  if (context.ns) out.ns = *context.ns;
  out.ns.meta.name = name;
  Labels& labels = out.ns.meta.labels;
  const bool chosen = find(labels, kInjectionNamespaceLabel) || find(labels, kRevisionLabel) ||
                      find(labels, kDataplaneModeLabel) || find(pod_labels, kDataplaneModeLabel);
  if (!chosen) {
    labels[std::string(kInjectionNamespaceLabel)] = "enabled";
    out.assumed_enabled = true;
  }
  return out;
}

// decideDataplane says "no injection label selects it" for explicit opt-outs too; name them.
void nameOptOut(validation::DataplaneDecision& decision, const validation::Workload& workload,
                const validation::Namespace* ns) {
  if (decision.sidecar || decision.ambient || decision.reason != "no injection label selects it") {
    return;
  }
  const std::string* pod_inject = find(workload.pod_labels, kInjectLabel);
  const std::string* ns_injection = ns ? find(ns->meta.labels, kInjectionNamespaceLabel) : nullptr;
  if (pod_inject && *pod_inject == "false") {
    decision.reason = "injection opted out (pod label sidecar.istio.io/inject=false)";
  } else if (ns_injection && *ns_injection != "enabled") {
    decision.reason = "injection opted out (namespace label istio-injection=" + *ns_injection + ")";
  }
}

validation::DataplaneDecision decide(const Json& pod, const PodContext& context,
                                     const std::string& namespace_name,
                                     const validation::MeshConfig& mesh) {
  const validation::Workload workload = workloadOf(pod, namespace_name);
  if (context.selection == InjectionSelection::Cluster) {
    validation::DataplaneDecision decision =
        validation::decideDataplane(workload, context.ns, mesh);
    nameOptOut(decision, workload, context.ns);
    return decision;
  }
  const OfflineNamespace offline = offlineNamespace(context, namespace_name, workload.pod_labels);
  validation::DataplaneDecision decision = validation::decideDataplane(workload, &offline.ns, mesh);
  if (decision.sidecar && offline.assumed_enabled) {
    decision.reason = "will be injected: offline injection, no opt-out";
  }
  nameOptOut(decision, workload, &offline.ns);
  return decision;
}

// ---------------------------------------------------------------------------------------------
// Conflicts with what the proxy owns

bool isReservedPort(std::int64_t port, int admin_port) {
  return port == admin_port ||
         std::find(kReservedPorts.begin(), kReservedPorts.end(), port) != kReservedPorts.end();
}

std::string reservedPortMessage(const std::string& container, std::int64_t port) {
  return "container '" + container + "' declares port " + std::to_string(port) +
         ", which the peergate proxy reserves (" + std::string(kReservedPortList) +
         "): move the application to another port, or opt the pod out of injection with the "
         "label sidecar.istio.io/inject=false";
}

std::optional<Error> reservedPortError(const Json& spec, int admin_port) {
  std::optional<Error> error;
  const Json& containers = member(spec, "containers");
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const Json& ports = member(containers[i], "ports");
    for (std::size_t j = 0; ports.is_array() && j < ports.size(); ++j) {
      const Json& port = member(ports[j], "containerPort");
      if (!port.is_number_integer() || !isReservedPort(port.get<std::int64_t>(), admin_port)) {
        continue;
      }
      const std::string message =
          reservedPortMessage(stringMember(containers[i], "name"), port.get<std::int64_t>());
      if (error) {
        error->message += "; " + message;
        continue;
      }
      error = injectionError("inject.reserved_port",
                             "spec.containers[" + std::to_string(i) + "].ports[" +
                                 std::to_string(j) + "].containerPort",
                             message);
    }
  }
  return error;
}

std::optional<Error> reservedUidError(const Json& spec, int proxy_uid) {
  const std::optional<std::int64_t> pod_uid = runAsUser(spec);
  const Json& containers = member(spec, "containers");
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const std::optional<std::int64_t> own_uid = runAsUser(containers[i]);
    const std::optional<std::int64_t> uid = own_uid ? own_uid : pod_uid;
    if (uid != proxy_uid) continue;
    const std::string path =
        own_uid ? "spec.containers[" + std::to_string(i) + "].securityContext.runAsUser"
                : "spec.securityContext.runAsUser";
    return injectionError(
        "inject.reserved_uid", path,
        "container '" + stringMember(containers[i], "name") + "' runs as uid " +
            std::to_string(proxy_uid) +
            ", which is reserved for the peergate proxy: its traffic would bypass interception "
            "and mTLS; run the application as another user");
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// What a sidecar is made of

std::string joined(const std::vector<int>& ports) {
  std::string out;
  for (const int port : ports) out += (out.empty() ? "" : ",") + std::to_string(port);
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

std::vector<int> excludedInboundPorts(const InjectionAnnotations& traffic, int admin_port) {
  std::vector<int> ports = {admin_port};
  for (const int port : traffic.exclude_inbound_ports) {
    if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
  }
  return ports;
}

Json iptablesArgs(const InjectionAnnotations& traffic, const InjectionConfig& config,
                  int admin_port) {
  Json args = Json::array({"iptables", "--proxy-uid", std::to_string(config.proxy_uid),
                           "--inbound-port", std::to_string(config.inbound_port), "--outbound-port",
                           std::to_string(config.outbound_port), "--exclude-inbound-ports",
                           joined(excludedInboundPorts(traffic, admin_port))});
  if (!traffic.exclude_outbound_ports.empty()) {
    args.push_back("--exclude-outbound-ports");
    args.push_back(joined(traffic.exclude_outbound_ports));
  }
  if (!traffic.exclude_outbound_cidrs.empty()) {
    args.push_back("--exclude-outbound-cidrs");
    args.push_back(joined(traffic.exclude_outbound_cidrs));
  }
  if (traffic.include_inbound_ports) {
    args.push_back("--include-inbound-ports");
    args.push_back(joined(*traffic.include_inbound_ports));
  }
  return args;
}

Json initContainer(const InjectionAnnotations& traffic, const InjectionConfig& config,
                   int admin_port) {
  return Json{
      {"name", kInitName},
      {"image", config.proxy_image},
      {"imagePullPolicy", config.image_pull_policy},
      {"args", iptablesArgs(traffic, config, admin_port)},
      {"securityContext",
       {{"runAsUser", 0},
        {"runAsNonRoot", false},
        {"allowPrivilegeEscalation", false},
        {"capabilities",
         {{"add", Json::array({"NET_ADMIN", "NET_RAW"})}, {"drop", Json::array({"ALL"})}}}}}};
}

Json fieldEnv(std::string_view name, std::string_view field_path) {
  return Json{{"name", name}, {"valueFrom", {{"fieldRef", {{"fieldPath", field_path}}}}}};
}

Json valueEnv(std::string_view name, std::string_view value) {
  return Json{{"name", name}, {"value", value}};
}

Json proxyEnv(const InjectionConfig& config, const Json& probers, int admin_port) {
  Json env = Json::array({fieldEnv("POD_NAME", "metadata.name"),
                          fieldEnv("POD_NAMESPACE", "metadata.namespace"),
                          fieldEnv("INSTANCE_IP", "status.podIP"),
                          fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
                          valueEnv("PEERGATE_CONTROL_PLANE", config.control_plane_address)});
  if (admin_port != config.admin_port) {
    env.push_back(valueEnv("PEERGATE_ADMIN_PORT", std::to_string(admin_port)));
  }
  if (!probers.empty()) env.push_back(valueEnv(kProbersEnv, probers.dump()));
  return env;
}

Json readinessProbe(const InjectionAnnotations& traffic, int admin_port) {
  return Json{{"httpGet", {{"path", "/healthz/ready"}, {"port", admin_port}}},
              {"initialDelaySeconds", traffic.readiness_initial_delay_seconds.value_or(1)},
              {"periodSeconds", traffic.readiness_period_seconds.value_or(2)},
              {"timeoutSeconds", 3},
              {"failureThreshold", traffic.readiness_failure_threshold.value_or(30)}};
}

Json proxySecurityContext(const InjectionConfig& config) {
  return Json{{"runAsUser", config.proxy_uid},
              {"runAsGroup", config.proxy_uid},
              {"runAsNonRoot", true},
              {"readOnlyRootFilesystem", true},
              {"allowPrivilegeEscalation", false},
              {"capabilities", {{"drop", Json::array({"ALL"})}}}};
}

Json proxyContainer(const InjectionAnnotations& traffic, const InjectionConfig& config,
                    const Json& probers, int admin_port) {
  return Json{
      {"name", kProxyName},
      {"image", config.proxy_image},
      {"imagePullPolicy", config.image_pull_policy},
      {"args", Json::array({"proxy"})},
      {"env", proxyEnv(config, probers, admin_port)},
      {"ports", Json::array({Json{
                    {"containerPort", admin_port}, {"name", "http-admin"}, {"protocol", "TCP"}}})},
      {"readinessProbe", readinessProbe(traffic, admin_port)},
      {"securityContext", proxySecurityContext(config)},
      {"volumeMounts",
       Json::array({Json{{"name", kIdentityVolume}, {"mountPath", "/var/run/peergate/identity"}},
                    Json{{"name", kTokenVolume},
                         {"mountPath", "/var/run/secrets/tokens"},
                         {"readOnly", true}},
                    Json{{"name", kCaRootVolume},
                         {"mountPath", "/var/run/peergate/ca-root"},
                         {"readOnly", true}}})}};
}

Json injectedVolumes() {
  const Json token_source = {
      {"serviceAccountToken",
       {{"audience", "peergate-ca"}, {"expirationSeconds", 3600}, {"path", "token"}}}};
  return Json::array(
      {Json{{"name", kIdentityVolume}, {"emptyDir", {{"medium", "Memory"}}}},
       Json{{"name", kTokenVolume}, {"projected", {{"sources", Json::array({token_source})}}}},
       Json{{"name", kCaRootVolume}, {"configMap", {{"name", kCaRootVolume}}}}});
}

// ---------------------------------------------------------------------------------------------
// Putting it into the pod

Json& objectMember(Json& parent, std::string_view key) {
  Json& value = parent[std::string(key)];
  if (!value.is_object()) value = Json::object();
  return value;
}

Json& arrayMember(Json& parent, std::string_view key) {
  Json& value = parent[std::string(key)];
  if (!value.is_array()) value = Json::array();
  return value;
}

void setIfAbsent(Json& map, std::string_view key, const std::string& value) {
  if (!map.contains(key)) map[std::string(key)] = value;
}

// What was injected, for the status annotation.
struct InjectedNames {
  std::vector<std::string> init_containers;
  std::vector<std::string> containers;
  std::vector<std::string> volumes;
};

struct SidecarPlan {
  InjectionAnnotations traffic;
  int admin_port = 0;
  bool native = false;  // the proxy is a native sidecar (an init container, restartPolicy Always)
  Json probers;
};

InjectedNames addSidecar(Json& spec, const SidecarPlan& plan, const InjectionConfig& config) {
  InjectedNames names;
  std::size_t next_init = 0;
  if (plan.traffic.interception_mode != "NONE") {
    Json& inits = arrayMember(spec, "initContainers");
    inits.insert(inits.begin(), initContainer(plan.traffic, config, plan.admin_port));
    names.init_containers.emplace_back(kInitName);
    next_init = 1;
  }
  Json proxy = proxyContainer(plan.traffic, config, plan.probers, plan.admin_port);
  if (plan.native) {
    proxy["restartPolicy"] = "Always";
    Json& inits = arrayMember(spec, "initContainers");
    inits.insert(inits.begin() + static_cast<std::ptrdiff_t>(next_init), std::move(proxy));
    names.init_containers.emplace_back(kProxyName);
  } else {
    arrayMember(spec, "containers").push_back(std::move(proxy));
    names.containers.emplace_back(kProxyName);
  }
  for (Json& volume : injectedVolumes()) {
    names.volumes.push_back(volume.at("name").get<std::string>());
    arrayMember(spec, "volumes").push_back(std::move(volume));
  }
  return names;
}

// Istio's GetDeployMetaFromPod: a generated pod's controller, a ReplicaSet minus its
// pod-template-hash (the Deployment), a CronJob's Job minus its timestamp.
std::string controllerName(const Json& metadata, const Labels& labels) {
  const Json& owners = member(metadata, "ownerReferences");
  if (!owners.is_array() || stringMember(metadata, "generateName").empty()) return "";
  for (const Json& owner : owners) {
    if (member(owner, "controller") != true) continue;
    std::string name = stringMember(owner, "name");
    const std::string kind = stringMember(owner, "kind");
    const std::string* hash = find(labels, "pod-template-hash");
    if (kind == "ReplicaSet" && hash && !hash->empty() && name.ends_with("-" + *hash)) {
      name.resize(name.size() - hash->size() - 1);
    }
    const auto dash = name.rfind('-');
    const std::string suffix = dash == std::string::npos ? "" : name.substr(dash + 1);
    if (kind == "Job" && suffix.size() >= 8 && suffix.size() <= 11 &&
        std::all_of(suffix.begin(), suffix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      name.resize(dash);
    }
    return name;
  }
  return "";
}

std::string workloadNameOf(const Json& pod, const PodContext& context, const Labels& labels) {
  if (!context.workload_name.empty()) return context.workload_name;
  const Json& metadata = member(pod, "metadata");
  if (std::string controller = controllerName(metadata, labels); !controller.empty()) {
    return controller;
  }
  std::string name = stringMember(metadata, "name");
  if (!name.empty()) return name;
  name = stringMember(metadata, "generateName");
  while (!name.empty() && name.back() == '-') name.pop_back();
  return name;
}

std::string firstLabel(const Labels& labels, std::initializer_list<std::string_view> keys,
                       const std::string& fallback) {
  for (const std::string_view key : keys) {
    if (const std::string* value = find(labels, key); value && !value->empty()) return *value;
  }
  return fallback;
}

void labelSidecarPod(Json& pod, const PodContext& context) {
  const Labels labels = labelsOf(pod);
  Json& target = objectMember(objectMember(pod, "metadata"), "labels");
  setIfAbsent(target, "security.istio.io/tlsMode", "istio");
  setIfAbsent(
      target, "service.istio.io/canonical-name",
      firstLabel(labels, {"app.kubernetes.io/name", "app"}, workloadNameOf(pod, context, labels)));
  setIfAbsent(target, "service.istio.io/canonical-revision",
              firstLabel(labels, {"app.kubernetes.io/version", "version"}, "latest"));
}

std::string statusAnnotation(const InjectedNames& names, const InjectionConfig& config) {
  nlohmann::ordered_json status;
  status["initContainers"] = names.init_containers;
  status["containers"] = names.containers;
  status["volumes"] = names.volumes;
  status["imagePullSecrets"] = nlohmann::ordered_json::array();
  status["revision"] = config.revision;
  return status.dump();
}

void annotateSidecarPod(Json& pod, const InjectedNames& names, const std::string& first_app,
                        int admin_port, const InjectionConfig& config) {
  Json& annotations = objectMember(objectMember(pod, "metadata"), "annotations");
  annotations[std::string(kStatusAnnotation)] = statusAnnotation(names, config);
  if (!first_app.empty()) setIfAbsent(annotations, kDefaultContainerAnnotation, first_app);
  setIfAbsent(annotations, "prometheus.io/scrape", "true");
  setIfAbsent(annotations, "prometheus.io/port", std::to_string(admin_port));
  setIfAbsent(annotations, "prometheus.io/path", "/metrics");
}

Injection finish(const Json& original, Json pod, InjectionMode mode, std::string reason) {
  Injection out;
  out.mode = mode;
  out.reason = std::move(reason);
  out.patch = Json::diff(original, pod);
  out.pod = std::move(pod);
  return out;
}

Injection skipped(const Json& original, std::string reason) {
  Injection out;
  out.mode = InjectionMode::Skipped;
  out.reason = std::move(reason);
  out.pod = original;
  return out;
}

Injection labelAmbient(const Json& original, std::string reason) {
  Json pod = original;
  setIfAbsent(objectMember(objectMember(pod, "metadata"), "labels"), kDataplaneModeLabel,
              "ambient");
  return finish(original, std::move(pod), InjectionMode::Ambient, std::move(reason));
}

bool nativeSidecar(const Labels& annotations) {
  const std::string* value = find(annotations, kNativeSidecarAnnotation);
  return value && *value == "true";
}

std::string firstAppContainer(const Json& spec) {
  const Json& containers = member(spec, "containers");
  return containers.empty() ? "" : stringMember(containers.front(), "name");
}

// `pod` is `original` stripped of an earlier injection.
validation::Result<Injection> injectSidecar(const Json& original, Json pod,
                                            const PodContext& context,
                                            const validation::MeshConfig& mesh,
                                            const InjectionConfig& config, std::string reason) {
  const Labels annotations = annotationsOf(pod);
  validation::Result<InjectionAnnotations> traffic = readInjectionAnnotations(annotations);
  if (!traffic) return traffic.error();
  SidecarPlan plan{std::move(traffic).value(), config.admin_port, nativeSidecar(annotations), {}};
  plan.admin_port = plan.traffic.status_port.value_or(config.admin_port);
  Json& spec = pod.at("spec");
  if (std::optional<Error> error = reservedPortError(spec, plan.admin_port)) return *error;
  if (std::optional<Error> error = reservedUidError(spec, config.proxy_uid)) return *error;
  const std::string first_app = firstAppContainer(spec);
  plan.probers = probeRewriteEnabled(annotations, mesh.rewrite_app_http_probes)
                     ? rewriteAppProbes(spec, plan.admin_port)
                     : Json::object();
  const InjectedNames names = addSidecar(spec, plan, config);
  labelSidecarPod(pod, context);
  annotateSidecarPod(pod, names, first_app, plan.admin_port, config);
  return finish(original, std::move(pod), InjectionMode::Sidecar, std::move(reason));
}

}  // namespace

std::string_view toString(InjectionMode mode) {
  switch (mode) {
    case InjectionMode::Sidecar:
      return "sidecar";
    case InjectionMode::Ambient:
      return "ambient";
    case InjectionMode::Skipped:
      return "skipped";
  }
  return "skipped";
}

validation::Result<Injection> injectPod(const Json& pod, const PodContext& context,
                                        const validation::MeshConfig& mesh,
                                        const InjectionConfig& config) {
  if (std::optional<Error> error = shapeError(pod)) return *error;
  const std::string namespace_name = namespaceOf(pod, context);
  const bool injected_before = !statusOf(pod).is_null();
  Json stripped = stripInjected(pod);
  validation::DataplaneDecision decision = decide(stripped, context, namespace_name, mesh);
  if (decision.sidecar && !decision.injected_now) {
    return injectSidecar(pod, std::move(stripped), context, mesh, config,
                         std::move(decision.reason));
  }
  if (decision.injected_now) {
    return skipped(pod, "the pod defines its own proxy container; nothing injected");
  }
  if (injected_before) {
    return skipped(pod, "keeps the proxy injected earlier (" + decision.reason + ")");
  }
  if (decision.ambient) return labelAmbient(pod, std::move(decision.reason));
  return skipped(pod, std::move(decision.reason));
}

}  // namespace peergate::webhook
