// manifests/ and the Dockerfile: every kustomization renders (kustomize_render.h reproduces
// `kubectl kustomize` for the subset manifests/ uses), every object decodes with the engine's
// decoder, and the safety properties docs/install.md promises hold in the base and in every
// overlay: fail-closed webhooks that exclude kube-system and peergate-system, no wildcard RBAC,
// non-root read-only containers, paths and ports that match the binary's own flags and routes,
// a config the webhook accepts. The Dockerfile builds what the scripts build and installs every
// shared library the binary links.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "kustomize_render.h"
#include "peergate/validation/decode.h"
#include "peergate/validation/finding.h"
#include "peergate/webhook/config.h"

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;
using peergate::test::objectsOf;
using peergate::test::Rendered;
using peergate::test::renderKustomization;
using Violations = std::vector<std::string>;

const fs::path kSourceDir = PEERGATE_SOURCE_DIR;
const fs::path kManifests = kSourceDir / "manifests";

// What a user installs: the base and every overlay (each renders the whole gate).
const std::vector<std::string> kInstallDirs = {"base", "overlays/cert-manager", "overlays/audit",
                                               "overlays/ha", "overlays/injection"};
const std::string kOwnNamespace = "peergate-system";

std::string readText(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command; stdout captured, stderr discarded.
CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    result.out += buffer.data();
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quoted(const std::string& text) { return "'" + text + "'"; }

std::string str(const Json& object, const std::string& pointer) {
  const Json::json_pointer path(pointer);
  return object.contains(path) && object.at(path).is_string() ? object.at(path).get<std::string>()
                                                              : std::string();
}

const Json& at(const Json& object, const std::string& pointer) {
  static const Json kNull;
  const Json::json_pointer path(pointer);
  return object.contains(path) ? object.at(path) : kNull;
}

std::string nameOf(const Json& object) {
  return str(object, "/kind") + " " + str(object, "/metadata/name");
}

bool listHas(const Json& list, const std::string& value) {
  if (!list.is_array()) return false;
  for (const Json& item : list) {
    if (item.is_string() && item.get<std::string>() == value) return true;
  }
  return false;
}

Rendered render(const std::string& dir) { return renderKustomization(kManifests / dir); }

// ---- The Deployment's `peergate webhook` command line --------------------------------------

struct WebhookCommand {
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;  // --flag -> value
  Violations problems;

  std::optional<std::string> flag(const std::string& name) const {
    auto it = flags.find(name);
    if (it == flags.end()) return std::nullopt;
    return it->second;
  }
};

const Json* webhookContainer(const Rendered& rendered) {
  const auto deployments = objectsOf(rendered, "Deployment", "peergate");
  if (deployments.size() != 1) return nullptr;
  const Json& containers = at(*deployments[0], "/spec/template/spec/containers");
  if (!containers.is_array() || containers.size() != 1) return nullptr;
  return &containers[0];
}

WebhookCommand webhookCommand(const Rendered& rendered) {
  WebhookCommand command;
  const Json* container = webhookContainer(rendered);
  if (container == nullptr) {
    command.problems.push_back("no Deployment peergate with exactly one container");
    return command;
  }
  if (container->contains("command")) {
    command.problems.push_back("the container overrides the image's ENTRYPOINT (peergate)");
  }
  for (const Json& arg : container->value("args", Json::array())) {
    command.args.push_back(arg.is_string() ? arg.get<std::string>() : arg.dump());
  }
  if (command.args.empty() || command.args[0] != "webhook") {
    command.problems.push_back("args must start with the subcommand `webhook`");
    return command;
  }
  for (std::size_t i = 1; i < command.args.size(); ++i) {
    const std::string& arg = command.args[i];
    if (arg.rfind("--", 0) != 0) {
      command.problems.push_back("unexpected positional argument " + arg);
      continue;
    }
    const auto equals = arg.find('=');
    if (equals != std::string::npos) {
      command.flags[arg.substr(0, equals)] = arg.substr(equals + 1);
    } else if (i + 1 < command.args.size()) {
      command.flags[arg] = command.args[++i];  // every webhook flag takes a value
    } else {
      command.problems.push_back(arg + " has no value");
    }
  }
  return command;
}

// The flags `peergate webhook --help` documents, from the real binary.
std::set<std::string> webhookHelpFlags() {
  const CommandResult help = runCommand(quoted(PEERGATE_BINARY) + " webhook --help");
  std::set<std::string> flags;
  if (help.exit_code != 0) return flags;
  const std::regex flag_pattern("(^|[\\s,])(--[a-z0-9][a-z0-9-]*)");
  for (auto it = std::sregex_iterator(help.out.begin(), help.out.end(), flag_pattern);
       it != std::sregex_iterator(); ++it) {
    flags.insert((*it)[2].str());
  }
  return flags;
}

// A probe's or Service's port: a number, or a container port name resolved to its number.
std::optional<long long> portNumber(const Json& port, const Json& container) {
  if (port.is_number_integer()) return port.get<long long>();
  if (!port.is_string()) return std::nullopt;
  for (const Json& declared : container.value("ports", Json::array())) {
    if (declared.value("name", "") == port.get<std::string>()) {
      return declared.value("containerPort", -1LL);
    }
  }
  return std::nullopt;
}

long long flagNumber(const WebhookCommand& command, const std::string& flag, long long fallback) {
  const auto value = command.flag(flag);
  if (!value) return fallback;
  try {
    return std::stoll(*value);
  } catch (const std::exception&) {
    return -1;
  }
}

// ---- Safety checks: each returns what is wrong, so a test can also prove it can fail ------

// Every admission webhook: fail closed, no side effects, v1 reviews, short timeout, our own
// namespace and kube-system excluded by the API-server-owned name label, the route the handler
// serves for what the rules send it.
Violations webhookViolations(const Rendered& rendered) {
  Violations out;
  const auto validating = objectsOf(rendered, "ValidatingWebhookConfiguration");
  const auto mutating = objectsOf(rendered, "MutatingWebhookConfiguration");
  if (validating.size() != 1) out.push_back("expected one ValidatingWebhookConfiguration");
  // peergate-mutator, plus peergate-injector with overlays/injection.
  if (mutating.empty() || mutating.size() > 2) {
    out.push_back("expected the MutatingWebhookConfiguration peergate-mutator (and the injector)");
  }

  const auto services = objectsOf(rendered, "Service", "peergate");
  const Json* service = services.size() == 1 ? services[0] : nullptr;
  if (service == nullptr) out.push_back("expected the Service peergate");

  // What each route acts on (webhook/src/*_handler.cc): resource -> operations. /mutate lets a
  // DELETE through untouched, so registering DELETE would only add a fail-closed dependency.
  const std::map<std::string, std::map<std::string, std::set<std::string>>> kRoutes = {
      {"/validate",
       {{"peerauthentications", {"CREATE", "UPDATE", "DELETE"}},
        {"destinationrules", {"CREATE", "UPDATE", "DELETE"}},
        {"namespaces", {"CREATE", "UPDATE", "DELETE"}}}},
      {"/mutate", {{"peerauthentications", {"CREATE", "UPDATE"}}}},
      {"/inject", {{"pods", {"CREATE"}}}},
  };
  std::set<std::string> paths;
  std::set<std::string> names;
  auto check_configuration = [&](const Json& configuration, bool is_mutating) {
    const Json& webhooks = at(configuration, "/webhooks");
    if (!webhooks.is_array() || webhooks.empty()) {
      out.push_back(nameOf(configuration) + ": no webhooks");
      return;
    }
    for (const Json& webhook : webhooks) {
      const std::string name = webhook.value("name", "");
      const std::string where = nameOf(configuration) + " webhook " + name;
      if (!names.insert(name).second) out.push_back(where + ": duplicate webhook name");
      if (std::count(name.begin(), name.end(), '.') < 2) {
        out.push_back(where + ": the name needs 3 dot-separated segments");
      }
      if (webhook.value("failurePolicy", "") != "Fail") {
        out.push_back(where +
                      ": failurePolicy must be Fail (the API server defaults to Fail, "
                      "but say it, and never Ignore)");
      }
      if (webhook.value("sideEffects", "") != "None") out.push_back(where + ": sideEffects");
      if (!listHas(at(webhook, "/admissionReviewVersions"), "v1")) {
        out.push_back(where + ": admissionReviewVersions must contain v1");
      }
      const Json& timeout = at(webhook, "/timeoutSeconds");
      if (!timeout.is_number_integer() || timeout.get<int>() < 1 || timeout.get<int>() > 10) {
        out.push_back(where + ": timeoutSeconds must be set, 1..10");
      }
      if (webhook.value("matchPolicy", "") != "Equivalent") {
        out.push_back(where + ": matchPolicy must be Equivalent");
      }
      if (is_mutating && webhook.value("reinvocationPolicy", "") != "IfNeeded") {
        out.push_back(where + ": reinvocationPolicy must be IfNeeded");
      }
      if (!is_mutating && webhook.contains("reinvocationPolicy")) {
        out.push_back(where + ": reinvocationPolicy on a validating webhook");
      }
      // Excluded by name: the gate can never block its own recovery or kube-system.
      std::set<std::string> excluded;
      for (const Json& expression : at(webhook, "/namespaceSelector/matchExpressions")) {
        if (expression.value("key", "") == "kubernetes.io/metadata.name" &&
            expression.value("operator", "") == "NotIn") {
          for (const Json& value : expression.value("values", Json::array())) {
            excluded.insert(value.get<std::string>());
          }
        }
      }
      for (const std::string& ns : {std::string("kube-system"), kOwnNamespace}) {
        if (!excluded.count(ns)) {
          out.push_back(where + ": namespaceSelector must exclude " + ns +
                        " with kubernetes.io/metadata.name NotIn");
        }
      }
      // Where the API server sends it: our Service, port 443, a route the server has.
      if (webhook.contains("/clientConfig/url"_json_pointer)) {
        out.push_back(where + ": clientConfig.url instead of the Service");
      }
      const std::string path = str(webhook, "/clientConfig/service/path");
      paths.insert(path);
      if (service != nullptr) {
        if (str(webhook, "/clientConfig/service/name") != str(*service, "/metadata/name") ||
            str(webhook, "/clientConfig/service/namespace") !=
                str(*service, "/metadata/namespace")) {
          out.push_back(where + ": clientConfig.service is not the peergate Service");
        }
        const Json& port = at(webhook, "/clientConfig/service/port");
        bool served = false;
        for (const Json& service_port : at(*service, "/spec/ports")) {
          if (service_port.value("port", 0) == (port.is_null() ? 443 : port.get<int>()) &&
              service_port.value("name", "") == "https-webhook") {
            served = true;
          }
        }
        if (!served) out.push_back(where + ": clientConfig.service.port is not https-webhook");
      }
      const auto route = kRoutes.find(path);
      if (route == kRoutes.end()) {
        out.push_back(where + ": path " + path + " is not /validate, /mutate or /inject");
        continue;
      }
      if ((path == "/validate") == is_mutating) {
        out.push_back(where + ": " + path + " in the wrong kind of configuration");
      }
      for (const Json& rule : at(webhook, "/rules")) {
        for (const char* field : {"apiGroups", "apiVersions", "resources", "operations"}) {
          if (listHas(rule.value(field, Json::array()), "*")) {
            out.push_back(where + ": `*` in rules." + field);
          }
        }
        for (const Json& resource : rule.value("resources", Json::array())) {
          const auto handled = route->second.find(resource.get<std::string>());
          if (handled == route->second.end()) {
            out.push_back(where + ": " + path + " does not handle " + resource.dump());
            continue;
          }
          for (const Json& operation : rule.value("operations", Json::array())) {
            if (!handled->second.count(operation.get<std::string>())) {
              out.push_back(where + ": " + path + " does not handle " + operation.dump() + " of " +
                            resource.dump());
            }
          }
        }
      }
    }
  };
  for (const Json* configuration : validating) check_configuration(*configuration, false);
  for (const Json* configuration : mutating) check_configuration(*configuration, true);
  // /inject is opt-in (overlays/injection); the gate itself is always there.
  if (!paths.count("/validate") || !paths.count("/mutate")) {
    out.push_back("the webhooks must call /validate and /mutate");
  }
  return out;
}

// No wildcard anywhere; read-only except creating TokenReviews and writing the mesh-root
// ConfigMap (update only by its name); and what the watcher lists.
Violations rbacViolations(const Rendered& rendered) {
  Violations out;
  std::set<std::string> granted;  // "group/resource verb"
  for (const std::string kind : {"ClusterRole", "Role"}) {
    for (const Json* role : objectsOf(rendered, kind)) {
      for (const Json& rule : at(*role, "/rules")) {
        const std::string where = nameOf(*role) + " rule " + rule.dump();
        for (const char* field : {"verbs", "resources", "apiGroups", "resourceNames"}) {
          for (const Json& value : rule.value(field, Json::array())) {
            if (value.get<std::string>().find('*') != std::string::npos) {
              out.push_back(where + ": `*` in " + field);
            }
          }
        }
        if (rule.contains("nonResourceURLs")) out.push_back(where + ": nonResourceURLs");
        const bool only_ca_root =
            rule.value("resourceNames", Json::array()) == Json::array({"peergate-ca-root"});
        for (const Json& resource : rule.value("resources", Json::array())) {
          const bool token_reviews = resource == "tokenreviews";
          const bool config_maps = resource == "configmaps";
          for (const Json& verb : rule.value("verbs", Json::array())) {
            const std::string v = verb.get<std::string>();
            const bool read = v == "get" || v == "list" || v == "watch";
            const bool allowed = token_reviews ? v == "create"
                                 : config_maps
                                     ? read || v == "create" || (v == "update" && only_ca_root)
                                     : read;
            if (!allowed) out.push_back(where + ": verb " + v + " on " + resource.dump());
            if (kind == "ClusterRole") {
              for (const Json& group : rule.value("apiGroups", Json::array())) {
                granted.insert(group.get<std::string>() + "/" + resource.get<std::string>() + " " +
                               v);
              }
            }
          }
        }
      }
    }
  }
  const std::vector<std::string> kWatched = {"/namespaces", "/pods", "/services",
                                             "security.istio.io/peerauthentications",
                                             "networking.istio.io/destinationrules"};
  for (const std::string& resource : kWatched) {
    for (const std::string verb : {"get", "list", "watch"}) {
      if (!granted.count(resource + " " + verb)) {
        out.push_back("the ClusterRole lacks " + verb + " on " + resource);
      }
    }
  }
  if (!granted.count("authentication.k8s.io/tokenreviews create")) {
    out.push_back("the ClusterRole lacks create on authentication.k8s.io/tokenreviews");
  }
  // Bindings give the roles to the Deployment's service account, and nothing else.
  const auto deployments = objectsOf(rendered, "Deployment", "peergate");
  const std::string account =
      deployments.empty() ? "" : str(*deployments[0], "/spec/template/spec/serviceAccountName");
  if (objectsOf(rendered, "ServiceAccount", account).size() != 1) {
    out.push_back("the Deployment's serviceAccountName has no ServiceAccount");
  }
  for (const std::string kind : {"ClusterRoleBinding", "RoleBinding"}) {
    for (const Json* binding : objectsOf(rendered, kind)) {
      const std::string role_kind = str(*binding, "/roleRef/kind");
      if (objectsOf(rendered, role_kind, str(*binding, "/roleRef/name")).size() != 1) {
        out.push_back(nameOf(*binding) + ": roleRef names no rendered " + role_kind);
      }
      for (const Json& subject : at(*binding, "/subjects")) {
        if (subject.value("kind", "") != "ServiceAccount" || subject.value("name", "") != account ||
            subject.value("namespace", "") != kOwnNamespace) {
          out.push_back(nameOf(*binding) + ": subject " + subject.dump());
        }
      }
    }
  }
  return out;
}

// Non-root, read-only root filesystem, no privilege escalation, every capability dropped,
// seccomp RuntimeDefault, requests and limits.
Violations podSecurityViolations(const Rendered& rendered) {
  Violations out;
  const auto deployments = objectsOf(rendered, "Deployment");
  if (deployments.empty()) out.push_back("no Deployment");
  for (const Json* deployment : deployments) {
    const Json& pod = at(*deployment, "/spec/template/spec");
    const Json& pod_security = at(pod, "/securityContext");
    if (at(pod, "/hostNetwork") == true || at(pod, "/hostPID") == true) {
      out.push_back(nameOf(*deployment) + ": host namespaces");
    }
    std::vector<const Json*> containers;
    for (const char* field : {"/containers", "/initContainers"}) {
      for (const Json& container : at(pod, field)) containers.push_back(&container);
    }
    for (const Json* container : containers) {
      const std::string where = nameOf(*deployment) + " container " + container->value("name", "");
      const Json& security = at(*container, "/securityContext");
      auto effective = [&](const std::string& pointer) -> const Json& {
        const Json& own = at(security, pointer);
        return own.is_null() ? at(pod_security, pointer) : own;
      };
      if (effective("/runAsNonRoot") != true) out.push_back(where + ": runAsNonRoot");
      const Json& uid = effective("/runAsUser");
      if (!uid.is_number_integer() || uid.get<long long>() == 0) {
        out.push_back(where + ": runAsUser must be a non-zero uid");
      }
      if (at(security, "/readOnlyRootFilesystem") != true) {
        out.push_back(where + ": readOnlyRootFilesystem");
      }
      if (at(security, "/allowPrivilegeEscalation") != false) {
        out.push_back(where + ": allowPrivilegeEscalation must be false");
      }
      if (at(security, "/privileged") == true) out.push_back(where + ": privileged");
      if (!listHas(at(security, "/capabilities/drop"), "ALL")) {
        out.push_back(where + ": capabilities.drop must contain ALL");
      }
      if (!at(security, "/capabilities/add").is_null()) {
        out.push_back(where + ": capabilities.add");
      }
      if (str(effective("/seccompProfile"), "/type") != "RuntimeDefault") {
        out.push_back(where + ": seccompProfile RuntimeDefault");
      }
      for (const char* pointer : {"/resources/requests/cpu", "/resources/requests/memory",
                                  "/resources/limits/cpu", "/resources/limits/memory"}) {
        if (at(*container, pointer).is_null()) out.push_back(where + ": missing " + pointer);
      }
      const std::string image = container->value("image", "");
      if (image.empty() || image.find(':') == std::string::npos ||
          image.substr(image.rfind(':')) == ":latest") {
        out.push_back(where + ": image must carry a version tag: " + image);
      }
    }
  }
  return out;
}

// The Service, the container ports and the probes agree with the flags the webhook runs with;
// the files the flags name are mounted; the pod outlives its own drain.
Violations caWiringViolations(const std::string& ca_dir, long long port, const Json& service,
                              const Json& container,
                              const std::function<const Json*(const std::string&)>& mounted_from) {
  Violations out;
  bool served = false;
  for (const Json& service_port : at(service, "/spec/ports")) {
    served |= service_port.value("name", "") == "https-ca" &&
              portNumber(service_port.value("targetPort", Json()), container) == port;
  }
  if (!served) out.push_back("Service port https-ca must target --control-plane-port");
  // The webhook reads DIR/ca.pem and DIR/ca-key.pem; the Secret is a kubernetes.io/tls one.
  const Json* volume = mounted_from(ca_dir + "/ca.pem");
  std::set<std::string> paths;
  if (volume != nullptr) {
    for (const Json& item : at(*volume, "/secret/items")) paths.insert(item.value("path", ""));
  }
  if (volume == nullptr || str(*volume, "/secret/secretName").empty() ||
      paths != std::set<std::string>{"ca.pem", "ca-key.pem"}) {
    out.push_back("--ca must name a directory holding ca.pem and ca-key.pem from a Secret");
  }
  return out;
}

Violations wiringViolations(const Rendered& rendered) {
  Violations out;
  const WebhookCommand command = webhookCommand(rendered);
  out.insert(out.end(), command.problems.begin(), command.problems.end());
  const Json* container = webhookContainer(rendered);
  const auto services = objectsOf(rendered, "Service", "peergate");
  if (container == nullptr || services.size() != 1) {
    out.push_back("expected the Deployment and the Service peergate");
    return out;
  }
  const long long port = flagNumber(command, "--port", 15017);
  const long long admin_port = flagNumber(command, "--admin-port", 15014);
  if (command.flag("--cluster-state") || command.flag("--kubeconfig")) {
    out.push_back(
        "in a pod the webhook must use its service account (no --cluster-state or "
        "--kubeconfig)");
  }

  bool webhook_port = false;
  bool metrics_port = false;
  for (const Json& service_port : at(*services[0], "/spec/ports")) {
    const auto target = portNumber(service_port.value("targetPort", Json()), *container);
    if (service_port.value("name", "") == "https-webhook") {
      webhook_port = true;
      if (service_port.value("port", 0) != 443 || target != port) {
        out.push_back("Service port https-webhook must be 443 -> --port " + std::to_string(port));
      }
    }
    if (service_port.value("name", "") == "http-metrics") {
      metrics_port = true;
      if (target != admin_port) {
        out.push_back("Service port http-metrics must target --admin-port");
      }
    }
  }
  if (!webhook_port || !metrics_port) out.push_back("Service ports https-webhook, http-metrics");
  std::set<long long> container_ports;
  for (const Json& declared : at(*container, "/ports")) {
    container_ports.insert(declared.value("containerPort", -1LL));
  }
  if (!container_ports.count(port) || !container_ports.count(admin_port)) {
    out.push_back("the container must declare --port and --admin-port");
  }
  const std::map<std::string, std::string> kProbes = {{"/livenessProbe", "/healthz"},
                                                      {"/readinessProbe", "/readyz"}};
  for (const auto& [probe, path] : kProbes) {
    const Json& get = at(*container, probe + "/httpGet");
    if (str(get, "/path") != path ||
        portNumber(get.value("port", Json()), *container) != admin_port ||
        (get.contains("scheme") && get.value("scheme", "") != "HTTP")) {
      out.push_back(probe.substr(1) + " must GET " + path + " on --admin-port " +
                    std::to_string(admin_port));
    }
  }

  const auto deployments = objectsOf(rendered, "Deployment", "peergate");
  const Json& pod = at(*deployments[0], "/spec/template/spec");
  const double drain = static_cast<double>(flagNumber(command, "--shutdown-delay", 5) +
                                           flagNumber(command, "--drain-timeout", 25));
  const Json& grace = at(pod, "/terminationGracePeriodSeconds");
  if (!grace.is_number() || grace.get<double>() <= drain) {
    out.push_back("terminationGracePeriodSeconds must exceed --shutdown-delay + --drain-timeout");
  }

  // The files the flags name are mounted from the right volumes.
  std::map<std::string, const Json*> volumes;
  for (const Json& volume : at(pod, "/volumes")) volumes[volume.value("name", "")] = &volume;
  auto mounted_from = [&](const std::string& file) -> const Json* {
    const std::string dir = fs::path(file).parent_path().string();
    for (const Json& mount : at(*container, "/volumeMounts")) {
      if (mount.value("mountPath", "") == dir && volumes.count(mount.value("name", ""))) {
        return volumes[mount.value("name", "")];
      }
    }
    return nullptr;
  };
  for (const std::string flag : {"--tls-cert", "--tls-key"}) {
    const Json* volume = command.flag(flag) ? mounted_from(*command.flag(flag)) : nullptr;
    if (volume == nullptr || str(*volume, "/secret/secretName").empty()) {
      out.push_back(flag + " must name a file in a mounted Secret");
    }
  }
  if (const auto ca = command.flag("--ca")) {
    const Violations ca_problems =
        caWiringViolations(*ca, flagNumber(command, "--control-plane-port", 15012), *services[0],
                           *container, mounted_from);
    out.insert(out.end(), ca_problems.begin(), ca_problems.end());
  } else {
    out.push_back("the webhook must run the control plane (--ca) for injected proxies");
  }
  const Json* config_volume =
      command.flag("--config") ? mounted_from(*command.flag("--config")) : nullptr;
  const std::string config_map =
      config_volume != nullptr ? str(*config_volume, "/configMap/name") : "";
  if (config_map.empty() || objectsOf(rendered, "ConfigMap", config_map).size() != 1) {
    out.push_back("--config must name a file in a mounted, rendered ConfigMap");
  }
  if (const auto mesh = command.flag("--mesh-config")) {
    if (*mesh != kOwnNamespace + "/" + config_map) {
      out.push_back("--mesh-config must name the rendered ConfigMap " + config_map);
    }
  }
  return out;
}

// The config.yaml of the mounted ConfigMap, parsed by the webhook's own parser.
peergate::validation::Result<peergate::webhook::WebhookConfig> webhookConfig(
    const Rendered& rendered) {
  const auto maps = objectsOf(rendered, "ConfigMap", "peergate-mesh");
  const std::string text = maps.size() == 1 ? str(*maps[0], "/data/config.yaml") : "";
  if (text.empty()) {
    return peergate::validation::Error{"config", "", 0, 0, "data.config.yaml", "missing"};
  }
  return peergate::webhook::parseWebhookConfig(text);
}

std::string joined(const Violations& violations) {
  std::string out;
  for (const std::string& violation : violations) out += "\n  - " + violation;
  return out;
}

// ---- Tests ---------------------------------------------------------------------------------

TEST_CASE("the test renderer reproduces kustomize for the subset manifests/ uses", "[manifests]") {
  static std::atomic<int> runs{0};
  const fs::path dir =
      fs::temp_directory_path() /
      ("peergate-kustomize-" + std::to_string(::getpid()) + "-" + std::to_string(runs++));
  fs::create_directories(dir / "base");
  fs::create_directories(dir / "overlay");
  auto write = [](const fs::path& path, const std::string& text) { std::ofstream(path) << text; };
  write(dir / "base/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [objects.yaml]\n");
  write(dir / "base/objects.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n"
        "data:\n  port: \"8080\"\n  text: |\n    line\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
        "rules: []\n---\n");
  write(dir / "overlay/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "namespace: target\nresources: [../base]\n"
        "labels:\n  - pairs: {team: mesh}\n    includeSelectors: false\n"
        "patches:\n  - target: {version: v1, kind: ConfigMap, name: a}\n    patch: |-\n"
        "      - op: replace\n        path: /data/port\n        value: \"9090\"\n"
        "      - op: add\n        path: /data/n\n        value: 3\n");

  const Rendered rendered = renderKustomization(dir / "overlay");
  INFO(joined(rendered.errors));
  REQUIRE(rendered.ok());
  REQUIRE(rendered.objects.size() == 2);
  const Json& map = rendered.objects[0].object;
  CHECK(map["metadata"]["namespace"] == "target");     // namespaced: moved
  CHECK(map["data"]["port"] == "9090");                // quoted stays a string
  CHECK(map["data"]["n"] == 3);                        // plain number is a number
  CHECK(map["data"]["text"] == "line\n");              // block scalar
  CHECK(map["metadata"]["labels"]["team"] == "mesh");  // labels on metadata
  const Json& role = rendered.objects[1].object;
  CHECK_FALSE(role["metadata"].contains("namespace"));  // cluster-scoped: untouched
  CHECK(role["metadata"]["labels"]["team"] == "mesh");

  SECTION("features outside the subset are errors, not silent differences") {
    write(dir / "overlay/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
          "resources: [../base]\ncommonLabels: {a: b}\n"
          "patches:\n  - target: {kind: ConfigMap, name: missing}\n    patch: |-\n"
          "      - op: remove\n        path: /data\n"
          "  - target: {kind: ConfigMap, name: a}\n    patch: |-\n"
          "      metadata: {name: smp}\n");
    const Rendered bad = renderKustomization(dir / "overlay");
    const std::string errors = joined(bad.errors);
    CAPTURE(errors);
    CHECK(errors.find("commonLabels is not supported") != std::string::npos);
    CHECK(errors.find("matches 0 objects") != std::string::npos);
    CHECK(errors.find("strategic merge patches are not supported") != std::string::npos);
  }
  SECTION("an object defined twice is an error, as in kustomize") {
    write(dir / "overlay/kustomization.yaml",
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
          "resources: [../base, ../base/objects.yaml]\n");
    const Rendered twice = renderKustomization(dir / "overlay");
    CHECK(joined(twice.errors).find("defined twice") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("every kustomization renders and every object decodes with the engine's decoder",
          "[manifests]") {
  const std::string dir = GENERATE(as<std::string>{}, "base", "crds", "overlays/cert-manager",
                                   "overlays/audit", "overlays/ha", "overlays/injection");
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  INFO(joined(rendered.errors));
  REQUIRE(rendered.ok());
  REQUIRE_FALSE(rendered.objects.empty());
  for (const auto& object : rendered.objects) {
    CAPTURE(object.source);
    CHECK_FALSE(str(object.object, "/metadata/name").empty());
    peergate::validation::Inputs inputs;
    const auto outcome =
        peergate::validation::decodeInto(object.object.dump(), object.source, inputs);
    for (const auto& error : outcome.errors) FAIL_CHECK(error.describe());
  }
}

TEST_CASE("every manifest file decodes with the engine's decoder as written", "[manifests]") {
  int files = 0;
  for (const std::string dir : {"base", "crds", "overlays"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kManifests / dir)) {
      if (entry.path().extension() != ".yaml") continue;
      ++files;
      CAPTURE(entry.path().string());
      peergate::validation::Inputs inputs;
      const auto outcome =
          peergate::validation::decodeInto(readText(entry.path()), entry.path().string(), inputs);
      for (const auto& error : outcome.errors) FAIL_CHECK(error.describe());
    }
  }
  CHECK(files >= 15);
}

TEST_CASE("the engine reads the base's namespace, workload, Service and mesh settings",
          "[manifests]") {
  const Rendered rendered = render("base");
  REQUIRE(rendered.ok());
  peergate::validation::Inputs inputs;
  for (const auto& object : rendered.objects) {
    REQUIRE(peergate::validation::decodeInto(object.object.dump(), object.source, inputs).ok());
  }
  REQUIRE(inputs.namespaces.size() == 1);
  CHECK(inputs.namespaces[0].meta.name == kOwnNamespace);
  REQUIRE(inputs.workloads.size() == 1);
  CHECK(inputs.workloads[0].meta.namespace_name == kOwnNamespace);
  REQUIRE(inputs.services.size() == 1);
  CHECK(inputs.services[0].meta.name == "peergate");
  CHECK(inputs.mesh.from_input);
  CHECK(inputs.mesh.root_namespace == "istio-system");
  CHECK(inputs.mesh.trust_domain == "cluster.local");
  CHECK(inputs.peer_authentications.empty());
}

TEST_CASE("every webhook fails closed and never sees kube-system or peergate-system",
          "[manifests]") {
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const Violations violations = webhookViolations(rendered);
  INFO(joined(violations));
  CHECK(violations.empty());
}

TEST_CASE(
    "RBAC is least privilege: no wildcard, read-only but for TokenReviews and the mesh-root "
    "ConfigMap",
    "[manifests]") {
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const Violations violations = rbacViolations(rendered);
  INFO(joined(violations));
  CHECK(violations.empty());
}

TEST_CASE("the gate's containers run non-root on a read-only root filesystem", "[manifests]") {
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const Violations violations = podSecurityViolations(rendered);
  INFO(joined(violations));
  CHECK(violations.empty());
}

TEST_CASE("the Service, ports, probes and mounts match the webhook's flags", "[manifests]") {
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const Violations violations = wiringViolations(rendered);
  INFO(joined(violations));
  CHECK(violations.empty());
}

TEST_CASE("every flag in the Deployment is one `peergate webhook --help` documents",
          "[manifests]") {
  const std::set<std::string> help = webhookHelpFlags();
  // The parse itself: the flags the manifests rely on are all there.
  for (const std::string flag : {"--port", "--admin-port", "--tls-cert", "--tls-key", "--config",
                                 "--mesh-config", "--shutdown-delay", "--drain-timeout"}) {
    CAPTURE(flag);
    REQUIRE(help.count(flag) == 1);
  }
  CHECK(help.count("--no-such-flag") == 0);
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const WebhookCommand command = webhookCommand(rendered);
  INFO(joined(command.problems));
  CHECK(command.problems.empty());
  CHECK(command.flags.size() >= 6);
  for (const auto& [flag, value] : command.flags) {
    CAPTURE(flag, value);
    CHECK(help.count(flag) == 1);
  }
}

TEST_CASE("the mounted config.yaml is accepted by the webhook's config parser", "[manifests]") {
  const std::string dir = GENERATE(from_range(kInstallDirs));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const auto config = webhookConfig(rendered);
  if (!config) FAIL(config.error().describe());
  // The injected proxy is the image the Deployment runs.
  const Json* container = webhookContainer(rendered);
  REQUIRE(container != nullptr);
  CHECK(config.value().injection.proxy_image == container->value("image", ""));
  CHECK(config.value().injection.control_plane_address == "peergate.peergate-system.svc:15012");
}

TEST_CASE("the base config denies Errors and warns on Warnings, as documented", "[manifests]") {
  const auto config = webhookConfig(render("base"));
  REQUIRE(config);
  int gate_codes = 0;
  for (const auto& info : peergate::validation::findingCatalogue()) {
    if (static_cast<int>(info.code) < 100) continue;  // Istio's own rules: not configurable
    ++gate_codes;
    CAPTURE(peergate::validation::codeString(info.code));
    const auto listed = config.value().actions.find(info.code);
    REQUIRE(listed != config.value().actions.end());  // every code visible in one place
    const auto expected = info.severity == peergate::validation::Severity::Error
                              ? peergate::webhook::FindingAction::Deny
                              : peergate::webhook::FindingAction::Warn;
    CHECK(listed->second == expected);
  }
  CHECK(gate_codes >= 16);
}

TEST_CASE("overlays/audit turns every finding into a warning", "[manifests]") {
  const auto config = webhookConfig(render("overlays/audit"));
  REQUIRE(config);
  for (const auto& info : peergate::validation::findingCatalogue()) {
    if (static_cast<int>(info.code) < 100) continue;
    CAPTURE(peergate::validation::codeString(info.code));
    peergate::validation::Finding finding;
    finding.code = info.code;
    finding.severity = peergate::validation::Severity::Error;  // even an Error only warns
    CHECK(config.value().actionFor(finding) == peergate::webhook::FindingAction::Warn);
  }
  // Everything else is the base's.
  const auto base = webhookConfig(render("base"));
  REQUIRE(base);
  CHECK(config.value().max_staleness_seconds == base.value().max_staleness_seconds);
  CHECK(config.value().injection.proxy_image == base.value().injection.proxy_image);
}

TEST_CASE("replicas and disruption budgets keep a replica answering", "[manifests]") {
  const auto [dir, replicas, min_available] = GENERATE(table<std::string, int, int>({
      {"base", 2, 1},
      {"overlays/cert-manager", 2, 1},
      {"overlays/audit", 2, 1},
      {"overlays/ha", 3, 2},
  }));
  CAPTURE(dir);
  const Rendered rendered = render(dir);
  REQUIRE(rendered.ok());
  const auto deployments = objectsOf(rendered, "Deployment", "peergate");
  const auto budgets = objectsOf(rendered, "PodDisruptionBudget", "peergate");
  REQUIRE(deployments.size() == 1);
  REQUIRE(budgets.size() == 1);
  CHECK(at(*deployments[0], "/spec/replicas") == replicas);
  CHECK(at(*budgets[0], "/spec/minAvailable") == min_available);
  CHECK(min_available < replicas);  // a drain can always proceed
  CHECK(at(*deployments[0], "/spec/strategy/rollingUpdate/maxUnavailable") == 0);
  // The budget and the anti-affinity select the Deployment's pods.
  const Json& pod_labels = at(*deployments[0], "/spec/template/metadata/labels");
  for (const auto& [key, value] : at(*budgets[0], "/spec/selector/matchLabels").items()) {
    CHECK(pod_labels.value(key, "") == value);
  }
  const Json& spread = at(*deployments[0], "/spec/template/spec/topologySpreadConstraints");
  if (dir == "overlays/ha") {
    REQUIRE(spread.is_array());
    bool hard_by_node = false;
    for (const Json& constraint : spread) {
      hard_by_node |= constraint.value("topologyKey", "") == "kubernetes.io/hostname" &&
                      constraint.value("whenUnsatisfiable", "") == "DoNotSchedule";
    }
    CHECK(hard_by_node);
  } else {
    CHECK(spread.is_null());
    CHECK(str(at(*deployments[0],
                 "/spec/template/spec/affinity/podAntiAffinity/"
                 "preferredDuringSchedulingIgnoredDuringExecution/0/"
                 "podAffinityTerm"),
              "/topologyKey") == "kubernetes.io/hostname");
  }
}

TEST_CASE("the base injects nothing: pod injection is the opt-in overlays/injection",
          "[manifests]") {
  for (const std::string dir : {"base", "overlays/cert-manager", "overlays/audit", "overlays/ha"}) {
    CAPTURE(dir);
    const Rendered rendered = render(dir);
    REQUIRE(rendered.ok());
    for (const Json* configuration : objectsOf(rendered, "MutatingWebhookConfiguration")) {
      for (const Json& webhook : at(*configuration, "/webhooks")) {
        CHECK(str(webhook, "/clientConfig/service/path") != "/inject");
      }
    }
  }
}

TEST_CASE("the injection webhooks select pods as Istio does", "[manifests]") {
  const Rendered rendered = render("overlays/injection");
  REQUIRE(rendered.ok());
  const auto configurations = objectsOf(rendered, "MutatingWebhookConfiguration");
  std::vector<const Json*> mutating;
  for (const Json* configuration : configurations) {
    if (str(*configuration, "/metadata/name") == "peergate-injector")
      mutating.push_back(configuration);
  }
  REQUIRE(mutating.size() == 1);
  // name -> (namespaceSelector expressions, objectSelector expressions), without the exclusion.
  std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> selectors;
  auto expressions = [](const Json& selector) {
    std::set<std::string> out;
    for (const Json& expression : at(selector, "/matchExpressions")) {
      if (expression.value("key", "") == "kubernetes.io/metadata.name") continue;
      std::string text = expression.value("key", "") + " " + expression.value("operator", "");
      for (const Json& value : expression.value("values", Json::array())) {
        text += " " + value.get<std::string>();
      }
      out.insert(text);
    }
    CHECK(at(selector, "/matchLabels").is_null());
    return out;
  };
  for (const Json& webhook : at(*mutating[0], "/webhooks")) {
    if (str(webhook, "/clientConfig/service/path") != "/inject") continue;
    selectors[webhook.value("name", "")] = {expressions(at(webhook, "/namespaceSelector")),
                                            expressions(at(webhook, "/objectSelector"))};
  }
  using Set = std::set<std::string>;
  const std::map<std::string, std::pair<Set, Set>> kIstio = {
      {"namespace.sidecar-injector.peergate.io",
       {{"istio-injection In enabled"}, {"sidecar.istio.io/inject NotIn false"}}},
      {"rev.namespace.sidecar-injector.peergate.io",
       {{"istio.io/rev Exists", "istio-injection DoesNotExist"},
        {"sidecar.istio.io/inject NotIn false"}}},
      {"object.sidecar-injector.peergate.io",
       {{"istio-injection DoesNotExist", "istio.io/rev DoesNotExist"},
        {"sidecar.istio.io/inject In true", "istio.io/rev DoesNotExist"}}},
      {"rev.object.sidecar-injector.peergate.io",
       {{"istio-injection DoesNotExist", "istio.io/rev DoesNotExist"},
        {"istio.io/rev Exists", "sidecar.istio.io/inject NotIn false"}}},
  };
  CHECK(selectors == kIstio);
}

TEST_CASE("overlays/cert-manager issues the serving certificate and injects its CA",
          "[manifests]") {
  const Rendered rendered = render("overlays/cert-manager");
  REQUIRE(rendered.ok());
  const auto serving = objectsOf(rendered, "Certificate", "peergate-serving");
  REQUIRE(serving.size() == 1);
  CHECK(listHas(at(*serving[0], "/spec/dnsNames"), "peergate.peergate-system.svc"));
  // The Secret the Deployment mounts for --tls-cert.
  const auto deployments = objectsOf(rendered, "Deployment", "peergate");
  REQUIRE(deployments.size() == 1);
  std::set<std::string> secrets;
  for (const Json& volume : at(*deployments[0], "/spec/template/spec/volumes")) {
    secrets.insert(str(volume, "/secret/secretName"));
  }
  CHECK(secrets.count(str(*serving[0], "/spec/secretName")) == 1);
  // Issuer chain: serving <- CA issuer <- CA certificate <- self-signed issuer.
  const auto ca_issuer = objectsOf(rendered, "Issuer", str(*serving[0], "/spec/issuerRef/name"));
  REQUIRE(ca_issuer.size() == 1);
  const std::string ca_secret = str(*ca_issuer[0], "/spec/ca/secretName");
  const Json* ca_certificate = nullptr;
  for (const Json* certificate : objectsOf(rendered, "Certificate")) {
    if (str(*certificate, "/spec/secretName") == ca_secret) ca_certificate = certificate;
  }
  REQUIRE(ca_certificate != nullptr);
  CHECK(at(*ca_certificate, "/spec/isCA") == true);
  const auto root = objectsOf(rendered, "Issuer", str(*ca_certificate, "/spec/issuerRef/name"));
  REQUIRE(root.size() == 1);
  CHECK(at(*root[0], "/spec/selfSigned").is_object());
  // cainjector fills both configurations' caBundle from the serving certificate.
  const std::string expected = kOwnNamespace + "/" + str(*serving[0], "/metadata/name");
  for (const std::string kind :
       {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}) {
    const auto configurations = objectsOf(rendered, kind);
    REQUIRE(configurations.size() == 1);
    CAPTURE(kind);
    CHECK(str(*configurations[0], "/metadata/annotations/cert-manager.io~1inject-ca-from") ==
          expected);
  }
  for (const Json* object : objectsOf(rendered, "Certificate")) {
    CHECK(str(*object, "/metadata/namespace") == kOwnNamespace);
  }
}

TEST_CASE("the base leaves caBundle to cert-manager or the install script", "[manifests]") {
  const Rendered rendered = render("base");
  REQUIRE(rendered.ok());
  for (const std::string kind :
       {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}) {
    for (const Json* configuration : objectsOf(rendered, kind)) {
      for (const Json& webhook : at(*configuration, "/webhooks")) {
        CAPTURE(webhook.value("name", ""));
        CHECK(str(webhook, "/clientConfig/caBundle").empty());
      }
    }
  }
}

TEST_CASE("the CRD mirrors Istio's PeerAuthentication schema", "[manifests]") {
  const Rendered rendered = render("crds");
  REQUIRE(rendered.ok());
  const auto crds =
      objectsOf(rendered, "CustomResourceDefinition", "peerauthentications.security.istio.io");
  REQUIRE(crds.size() == 1);
  const Json& crd = *crds[0];
  CHECK(str(crd, "/spec/group") == "security.istio.io");
  CHECK(str(crd, "/spec/scope") == "Namespaced");
  CHECK(str(crd, "/spec/names/kind") == "PeerAuthentication");
  CHECK(str(crd, "/spec/names/plural") == "peerauthentications");
  CHECK(listHas(at(crd, "/spec/names/shortNames"), "pa"));

  std::map<std::string, std::pair<bool, bool>> versions;  // served, storage
  for (const Json& version : at(crd, "/spec/versions")) {
    versions[version.value("name", "")] = {version.value("served", false),
                                           version.value("storage", false)};
  }
  CHECK(versions == std::map<std::string, std::pair<bool, bool>>{{"v1", {true, true}},
                                                                 {"v1beta1", {true, false}}});

  const Json* first_schema = nullptr;
  for (const Json& version : at(crd, "/spec/versions")) {
    CAPTURE(version.value("name", ""));
    CHECK(at(version, "/subresources/status").is_object());
    const Json& schema = at(version, "/schema/openAPIV3Schema");
    if (first_schema == nullptr) first_schema = &schema;
    CHECK(schema == *first_schema);  // identical in both versions: no conversion
    const Json& spec = at(schema, "/properties/spec");
    const Json kModes = {"UNSET", "DISABLE", "PERMISSIVE", "STRICT"};
    CHECK(at(spec, "/properties/mtls/properties/mode/enum") == kModes);
    CHECK(at(spec, "/properties/portLevelMtls/additionalProperties/properties/mode/enum") ==
          kModes);
    CHECK(at(spec, "/properties/portLevelMtls/minProperties") == 1);
    const Json& match_labels = at(spec, "/properties/selector/properties/matchLabels");
    CHECK(at(match_labels, "/maxProperties") == 4096);
    CHECK(at(match_labels, "/additionalProperties/maxLength") == 63);

    std::set<std::string> messages;
    auto collect = [&messages](const Json& node) {
      for (const Json& rule : at(node, "/x-kubernetes-validations")) {
        CHECK_FALSE(rule.value("rule", "").empty());
        messages.insert(rule.value("message", ""));
      }
    };
    collect(spec);
    collect(at(spec, "/properties/portLevelMtls"));
    collect(match_labels);
    collect(at(match_labels, "/additionalProperties"));
    CHECK(messages ==
          std::set<std::string>{"portLevelMtls requires selector", "port must be between 1-65535",
                                "wildcard not allowed in label key match", "key must not be empty",
                                "wildcard not allowed in label value match"});
    // Structural: every level has a type (the API server refuses the CRD otherwise).
    CHECK(str(schema, "/type") == "object");
    CHECK(str(spec, "/type") == "object");
    CHECK(str(at(spec, "/properties/portLevelMtls/additionalProperties"), "/type") == "object");
  }
}

// Each mutation breaks one property; the check that guards it must notice. This is what keeps
// the tests above from passing vacuously.
TEST_CASE("the safety checks catch a broken manifest", "[manifests]") {
  struct Mutation {
    std::string description;
    std::string kind;
    std::string name;
    Json patch;
    Violations (*check)(const Rendered&);
  };
  const std::vector<Mutation> mutations = {
      {"failurePolicy Ignore", "ValidatingWebhookConfiguration", "peergate-validator",
       Json::parse(R"([{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}])"),
       webhookViolations},
      {"failurePolicy Ignore on injection", "MutatingWebhookConfiguration", "peergate-injector",
       Json::parse(R"([{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}])"),
       webhookViolations},
      {"kube-system no longer excluded", "ValidatingWebhookConfiguration", "peergate-validator",
       Json::parse(R"([{"op":"replace","path":"/webhooks/0/namespaceSelector",
                        "value":{"matchExpressions":[{"key":"kubernetes.io/metadata.name",
                        "operator":"NotIn","values":["peergate-system"]}]}}])"),
       webhookViolations},
      {"timeout 30 s", "MutatingWebhookConfiguration", "peergate-mutator",
       Json::parse(R"([{"op":"replace","path":"/webhooks/0/timeoutSeconds","value":30}])"),
       webhookViolations},
      {"sideEffects Some", "ValidatingWebhookConfiguration", "peergate-validator",
       Json::parse(R"([{"op":"replace","path":"/webhooks/1/sideEffects","value":"Some"}])"),
       webhookViolations},
      {"a wrong path", "MutatingWebhookConfiguration", "peergate-injector",
       Json::parse(
           R"([{"op":"replace","path":"/webhooks/1/clientConfig/service/path","value":"/injects"}])"),
       webhookViolations},
      {"DELETE sent to /mutate", "MutatingWebhookConfiguration", "peergate-mutator",
       Json::parse(R"([{"op":"add","path":"/webhooks/0/rules/0/operations/-","value":"DELETE"}])"),
       webhookViolations},
      {"reinvocation Never", "MutatingWebhookConfiguration", "peergate-injector",
       Json::parse(R"([{"op":"replace","path":"/webhooks/2/reinvocationPolicy","value":"Never"}])"),
       webhookViolations},
      {"a wildcard verb", "ClusterRole", "peergate",
       Json::parse(R"([{"op":"replace","path":"/rules/0/verbs","value":["*"]}])"), rbacViolations},
      {"write access", "ClusterRole", "peergate",
       Json::parse(R"([{"op":"add","path":"/rules/1/verbs/-","value":"update"}])"), rbacViolations},
      {"no watch on pods", "ClusterRole", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/rules/0/resources","value":["namespaces","services"]}])"),
       rbacViolations},
      {"root", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/spec/template/spec/securityContext/runAsUser","value":0},
                       {"op":"replace","path":"/spec/template/spec/containers/0/securityContext/runAsUser","value":0}])"),
       podSecurityViolations},
      {"writable root filesystem", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem","value":false}])"),
       podSecurityViolations},
      {"capabilities kept", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"remove","path":"/spec/template/spec/containers/0/securityContext/capabilities"}])"),
       podSecurityViolations},
      {"Service targets another port", "Service", "peergate",
       Json::parse(R"([{"op":"replace","path":"/spec/ports/0/targetPort","value":8443}])"),
       wiringViolations},
      {"--port changed alone", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/spec/template/spec/containers/0/args/2","value":"8443"}])"),
       wiringViolations},
      {"readiness on the HTTPS port", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/spec/template/spec/containers/0/readinessProbe/httpGet/port","value":15017}])"),
       wiringViolations},
      {"grace period shorter than the drain", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"replace","path":"/spec/template/spec/terminationGracePeriodSeconds","value":30}])"),
       wiringViolations},
      {"files instead of the API server", "Deployment", "peergate",
       Json::parse(
           R"([{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--cluster-state=/state"}])"),
       wiringViolations},
  };
  // The injection overlay: the base plus the opt-in injector, so every webhook is covered.
  const Rendered base = render("overlays/injection");
  REQUIRE(base.ok());
  REQUIRE(webhookViolations(base).empty());
  REQUIRE(rbacViolations(base).empty());
  REQUIRE(podSecurityViolations(base).empty());
  REQUIRE(wiringViolations(base).empty());
  for (const Mutation& mutation : mutations) {
    CAPTURE(mutation.description);
    Rendered broken = base;
    int patched = 0;
    for (auto& object : broken.objects) {
      if (str(object.object, "/kind") == mutation.kind &&
          str(object.object, "/metadata/name") == mutation.name) {
        object.object = object.object.patch(mutation.patch);
        ++patched;
      }
    }
    REQUIRE(patched == 1);
    CHECK_FALSE(mutation.check(broken).empty());
  }
}

// ---- Dockerfile ------------------------------------------------------------------------------

struct DockerStage {
  std::string from;
  std::vector<std::string> runs;  // RUN instructions, continuation lines joined
  std::vector<std::string> instructions;
};

std::vector<DockerStage> dockerStages(const std::string& text) {
  std::vector<DockerStage> stages;
  std::istringstream lines(text);
  std::string line;
  std::string instruction;
  while (std::getline(lines, line)) {
    const auto start = line.find_first_not_of(" \t");
    if (instruction.empty() && (start == std::string::npos || line[start] == '#')) continue;
    if (!instruction.empty() && start != std::string::npos && line[start] == '#') continue;
    const bool continued = !line.empty() && line.back() == '\\';
    instruction +=
        (instruction.empty() ? "" : " ") + (continued ? line.substr(0, line.size() - 1) : line);
    if (continued) continue;
    // Collapse whitespace.
    instruction = std::regex_replace(instruction, std::regex("\\s+"), " ");
    instruction = std::regex_replace(instruction, std::regex("^ | $"), "");
    if (instruction.rfind("FROM ", 0) == 0) {
      stages.push_back({instruction.substr(5), {}, {}});
    } else if (!stages.empty()) {
      stages.back().instructions.push_back(instruction);
      if (instruction.rfind("RUN ", 0) == 0) stages.back().runs.push_back(instruction.substr(4));
    }
    instruction.clear();
  }
  return stages;
}

bool anyContains(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find(needle) != std::string::npos;
  });
}

// The first capture of `pattern` in `text`, or "".
std::string firstMatch(const std::string& text, const std::string& pattern) {
  std::smatch match;
  return std::regex_search(text, match, std::regex(pattern)) ? match[1].str() : "";
}

TEST_CASE("the Dockerfile builds what the scripts build", "[manifests]") {
  const std::vector<DockerStage> stages = dockerStages(readText(kSourceDir / "Dockerfile"));
  REQUIRE(stages.size() == 2);
  const DockerStage& build = stages[0];
  const DockerStage& runtime = stages[1];
  CHECK(build.from == "debian:12 AS build");
  CHECK(runtime.from == "debian:12-slim");

  const std::string demo = readText(kSourceDir / "scripts/demo.sh");
  const std::string test = readText(kSourceDir / "scripts/test.sh");
  // The same dependency script the scripts run.
  for (const std::string* script : {&demo, &test}) {
    CHECK(script->find("bash scripts/install-deps.sh") != std::string::npos);
  }
  CHECK(anyContains(build.runs, "bash scripts/install-deps.sh"));
  // The preset demo.sh builds the binary with, and the target.
  const std::string preset = firstMatch(demo, "cmake --preset ([a-z]+)");
  REQUIRE_FALSE(preset.empty());
  CHECK(firstMatch(demo, "cmake --build --preset ([a-z]+)") == preset);
  CHECK(demo.find("--target peergate") != std::string::npos);
  CHECK(anyContains(build.runs, "cmake --preset " + preset));
  CHECK(anyContains(build.runs, "cmake --build --preset " + preset + " --target peergate"));
  // The preset exists, and test.sh runs presets from the same file.
  const Json presets = Json::parse(readText(kSourceDir / "CMakePresets.json"));
  bool known = false;
  for (const Json& configure : presets.at("configurePresets")) {
    known |= configure.value("name", "") == preset;
  }
  CHECK(known);
  CHECK(test.find("cmake --preset \"$preset\"") != std::string::npos);
  // The install step runs before the configure step.
  const auto install_at = std::find_if(build.runs.begin(), build.runs.end(), [](const auto& run) {
    return run.find("install-deps.sh") != std::string::npos;
  });
  const auto configure_at =
      std::find_if(build.runs.begin(), build.runs.end(), [&preset](const auto& run) {
        return run.find("cmake --preset " + preset) != std::string::npos;
      });
  CHECK(install_at < configure_at);

  // The runtime copies that build's binary, runs as non-root, enters through peergate.
  CHECK(anyContains(runtime.instructions,
                    "COPY --from=build /src/build/" + preset + "/cli/peergate /usr/local/bin/"));
  const std::string user = firstMatch(
      [&runtime] {
        std::string all;
        for (const auto& instruction : runtime.instructions) all += instruction + "\n";
        return all;
      }(),
      "(?:^|\\n)USER ([^\\n]+)");
  REQUIRE_FALSE(user.empty());
  CHECK(user.rfind("0", 0) != 0);
  CHECK(user.rfind("root", 0) != 0);
  CHECK(user.rfind("65532", 0) == 0);
  CHECK(anyContains(runtime.instructions, "ENTRYPOINT [\"peergate\"]"));
  CHECK(anyContains(runtime.runs, "iptables"));
  // The Deployment runs the image with the uid the Dockerfile sets.
  const Rendered base = render("base");
  REQUIRE(base.ok());
  const Json* container = webhookContainer(base);
  REQUIRE(container != nullptr);
  CHECK(at(*container, "/securityContext/runAsUser") == 65532);

  const std::string ignore = readText(kSourceDir / ".dockerignore");
  CHECK(ignore.find("build/") != std::string::npos);
  CHECK(ignore.find(".git") != std::string::npos);
}

// The packages the runtime stage's `apt-get install` names.
std::set<std::string> runtimePackages(const DockerStage& runtime) {
  std::set<std::string> packages;
  for (const std::string& run : runtime.runs) {
    const auto install = run.find("apt-get install");
    if (install == std::string::npos) continue;
    std::istringstream words(run.substr(install + std::string("apt-get install").size()));
    std::string word;
    while (words >> word) {
      if (word == "&&" || word == ";") break;
      if (word.rfind("-", 0) == 0) continue;
      packages.insert(word);
    }
  }
  return packages;
}

// The Debian package that owns `path` (`dpkg -S`), trying the merged-/usr spellings; "" if none.
std::string owningPackage(const std::string& path) {
  std::vector<std::string> candidates = {path};
  std::error_code error;
  const std::string real = fs::canonical(path, error).string();
  if (!error) {
    candidates.push_back(real);
    if (real.rfind("/usr/", 0) == 0) candidates.push_back(real.substr(4));
  }
  for (const std::string& candidate : candidates) {
    const CommandResult owner = runCommand("dpkg -S " + quoted(candidate));
    if (owner.exit_code != 0 || owner.out.empty()) continue;
    // "libssl3:amd64: /usr/lib/x86_64-linux-gnu/libssl.so.3"
    const std::string first = owner.out.substr(0, owner.out.find_first_of(":,"));
    if (!first.empty()) return first;
  }
  return "";
}

TEST_CASE("the runtime image installs a package for every library the binary links",
          "[manifests]") {
  const std::vector<DockerStage> stages = dockerStages(readText(kSourceDir / "Dockerfile"));
  REQUIRE(stages.size() == 2);
  const std::set<std::string> installed = runtimePackages(stages[1]);
  CAPTURE(installed);
  REQUIRE(installed.count("iptables") == 1);

  if (runCommand("command -v dpkg").exit_code != 0 ||
      runCommand("dpkg -S /bin/sh").exit_code != 0 || runCommand("command -v ldd").exit_code != 0) {
    WARN("skipped: `dpkg -S` or `ldd` is unavailable here, so the libraries of "
         << PEERGATE_BINARY << " cannot be mapped to Debian packages");
    return;
  }
  const CommandResult ldd = runCommand("ldd " + quoted(PEERGATE_BINARY));
  REQUIRE(ldd.exit_code == 0);
  std::istringstream lines(ldd.out);
  std::string line;
  int libraries = 0;
  while (std::getline(lines, line)) {
    // "\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x...)" or "\t/lib64/ld-linux...
    // (0x...)"
    std::string path = firstMatch(line, "=> (/\\S+)");
    if (path.empty()) path = firstMatch(line, "^\\s*(/\\S+)");
    if (path.empty()) {
      CHECK(line.find("not found") == std::string::npos);
      continue;  // linux-vdso: provided by the kernel
    }
    // A sanitizer build's runtime is not part of the release image.
    if (path.find("/libasan.") != std::string::npos ||
        path.find("/libubsan.") != std::string::npos ||
        path.find("/libtsan.") != std::string::npos) {
      continue;
    }
    ++libraries;
    const std::string package = owningPackage(path);
    CAPTURE(line, package);
    CHECK_FALSE(package.empty());
    CHECK(installed.count(package) == 1);
  }
  CHECK(libraries >= 5);
}

}  // namespace

namespace peergate::test {
namespace {

// kind/namespace/name → object, for comparing two renderings whatever their order.
std::map<std::string, nlohmann::json> byIdentity(const std::vector<nlohmann::json>& objects) {
  std::map<std::string, nlohmann::json> out;
  for (const nlohmann::json& object : objects) {
    const nlohmann::json meta = object.value("metadata", nlohmann::json::object());
    out[object.value("kind", "") + " " + meta.value("namespace", "") + "/" +
        meta.value("name", "")] = object;
  }
  return out;
}

// The checks above read this project's own renderer; where the real `kubectl kustomize` exists
// (it is not a Debian 12 package), the two must agree object for object.
TEST_CASE("kubectl kustomize renders every install directory exactly as the tests read it",
          "[manifests]") {
  if (std::system("command -v kubectl >/dev/null 2>&1") != 0) {
    WARN("kubectl is not installed: the real renderer is not compared");
    return;
  }
  const std::string dir = GENERATE(values<std::string>(
      {"base", "overlays/cert-manager", "overlays/audit", "overlays/ha", "overlays/injection"}));
  CAPTURE(dir);
  const std::string root = std::string(PEERGATE_SOURCE_DIR) + "/manifests/";
  FILE* pipe = popen(("kubectl kustomize '" + root + dir + "' 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string text;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    text += buffer.data();
  }
  const int status = pclose(pipe);
  INFO(text.substr(0, 2000));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::vector<nlohmann::json> theirs;
  for (const YAML::Node& document : YAML::LoadAll(text)) {
    theirs.push_back(kustomize_detail::toJson(document));
  }
  std::vector<nlohmann::json> ours;
  const Rendered rendered = renderKustomization(root + dir);
  REQUIRE(rendered.ok());
  for (const RenderedObject& object : rendered.objects) ours.push_back(object.object);
  const auto their_objects = byIdentity(theirs);
  const auto our_objects = byIdentity(ours);
  for (const auto& [identity, object] : their_objects) {
    CAPTURE(identity);
    REQUIRE(our_objects.count(identity) == 1);
    INFO("diff: " << nlohmann::json::diff(our_objects.at(identity), object).dump());
    CHECK(our_objects.at(identity) == object);
  }
  CHECK(our_objects.size() == their_objects.size());
}

}  // namespace
}  // namespace peergate::test
