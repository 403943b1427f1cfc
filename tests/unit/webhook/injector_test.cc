// Tests of the pod injector: the decision (shared with `peergate check`), what a sidecar pod
// contains, the JSON Patch, idempotent re-injection, native sidecars, and the errors.

#include "peergate/webhook/injector.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "peergate/validation/injection.h"

namespace peergate::webhook {
namespace {

using Json = nlohmann::json;
using validation::Labels;

Json appPod() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
      "serviceAccountName": "web",
      "initContainers": [{"name": "migrate", "image": "migrate:1"}],
      "containers": [{
        "name": "web", "image": "nginx:1.25",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "startupProbe": {"exec": {"command": ["true"]}}
      }, {
        "name": "sidecar-logger", "image": "logger:2"
      }]
    }
  })");
}

validation::Namespace makeNamespace(const std::string& name, Labels labels) {
  validation::Namespace ns;
  ns.meta.name = name;
  ns.meta.labels = std::move(labels);
  return ns;
}

const validation::Namespace kEnabled = makeNamespace("shop", {{"istio-injection", "enabled"}});

struct Injector {
  validation::MeshConfig mesh;
  InjectionConfig config;
  PodContext context{"shop", &kEnabled, "", InjectionSelection::Cluster};

  validation::Result<Injection> run(const Json& pod) const {
    return injectPod(pod, context, mesh, config);
  }
  Injection ok(const Json& pod) const {
    validation::Result<Injection> result = run(pod);
    if (!result.ok()) FAIL(result.error().describe());
    return result.value();
  }
};

Json withAnnotation(Json pod, const std::string& key, const std::string& value) {
  pod["metadata"]["annotations"][key] = value;
  return pod;
}

const Json* findNamed(const Json& list, const std::string& name) {
  for (const Json& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

const Json& proxyOf(const Json& pod) {
  const Json* proxy = findNamed(pod["spec"]["containers"], "peergate-proxy");
  if (!proxy) proxy = findNamed(pod["spec"]["initContainers"], "peergate-proxy");
  REQUIRE(proxy);
  return *proxy;
}

std::optional<Json> envOf(const Json& container, const std::string& name) {
  const Json* variable = findNamed(container["env"], name);
  return variable ? std::optional<Json>(*variable) : std::nullopt;
}

Json initArgs(const Json& pod) {
  const Json* init = findNamed(pod["spec"]["initContainers"], "peergate-init");
  REQUIRE(init);
  return (*init)["args"];
}

// ---------------------------------------------------------------------------------------------
// Decisions

struct DecisionRow {
  std::string name;
  std::string ns;
  Labels ns_labels;
  Labels pod_labels;
  Labels pod_annotations;
  bool host_network;
  InjectionSelection selection;
  InjectionMode mode;
  std::string reason;
};

Json podFor(const DecisionRow& row) {
  Json pod = appPod();
  pod["metadata"]["namespace"] = row.ns;
  pod["metadata"]["labels"] = row.pod_labels;
  for (const auto& [key, value] : row.pod_annotations) pod["metadata"]["annotations"][key] = value;
  if (row.host_network) pod["spec"]["hostNetwork"] = true;
  return pod;
}

TEST_CASE("decides sidecar, ambient or skip like Istio's webhooks", "[inject][decision]") {
  using enum InjectionMode;
  const auto cluster = InjectionSelection::Cluster;
  const auto offline = InjectionSelection::Offline;
  const DecisionRow row = GENERATE_COPY(values<DecisionRow>({
      {"enabled namespace",
       "shop",
       {{"istio-injection", "enabled"}},
       {},
       {},
       false,
       cluster,
       Sidecar,
       "will be injected: namespace label istio-injection=enabled"},
      {"revision namespace",
       "shop",
       {{"istio.io/rev", "default"}},
       {},
       {},
       false,
       cluster,
       Sidecar,
       "will be injected: namespace label istio.io/rev=default"},
      {"pod label inject=true",
       "shop",
       {},
       {{"sidecar.istio.io/inject", "true"}},
       {},
       false,
       cluster,
       Sidecar,
       "will be injected: pod label sidecar.istio.io/inject=true"},
      {"pod revision label",
       "shop",
       {},
       {{"istio.io/rev", "default"}},
       {},
       false,
       cluster,
       Sidecar,
       "will be injected: pod label istio.io/rev=default"},
      {"pod label opt-out",
       "shop",
       {{"istio-injection", "enabled"}},
       {{"sidecar.istio.io/inject", "false"}},
       {},
       false,
       cluster,
       Skipped,
       "injection opted out (pod label sidecar.istio.io/inject=false)"},
      {"pod annotation opt-out",
       "shop",
       {{"istio-injection", "enabled"}},
       {},
       {{"sidecar.istio.io/inject", "false"}},
       false,
       cluster,
       Skipped,
       "injection opted out (sidecar.istio.io/inject)"},
      {"namespace disabled beats pod",
       "shop",
       {{"istio-injection", "disabled"}},
       {{"sidecar.istio.io/inject", "true"}},
       {},
       false,
       cluster,
       Skipped,
       "injection opted out (namespace label istio-injection=disabled)"},
      {"annotation cannot select",
       "shop",
       {},
       {},
       {{"sidecar.istio.io/inject", "true"}},
       false,
       cluster,
       Skipped,
       "no injection label selects it"},
      {"hostNetwork",
       "shop",
       {{"istio-injection", "enabled"}},
       {},
       {},
       true,
       cluster,
       Skipped,
       "hostNetwork pods are never injected"},
      {"kube-system",
       "kube-system",
       {{"istio-injection", "enabled"}},
       {},
       {},
       false,
       cluster,
       Skipped,
       "namespace kube-system is never injected"},
      {"unlabelled", "shop", {}, {}, {}, false, cluster, Skipped, "no injection label selects it"},
      {"ambient namespace",
       "shop",
       {{"istio.io/dataplane-mode", "ambient"}},
       {},
       {},
       false,
       cluster,
       Ambient,
       "ambient (istio.io/dataplane-mode=ambient)"},
      {"ambient pod",
       "shop",
       {},
       {{"istio.io/dataplane-mode", "ambient"}},
       {},
       false,
       cluster,
       Ambient,
       "ambient (istio.io/dataplane-mode=ambient)"},
      {"ambient opt-out",
       "shop",
       {{"istio.io/dataplane-mode", "ambient"}},
       {{"istio.io/dataplane-mode", "none"}},
       {},
       false,
       cluster,
       Skipped,
       "no injection label selects it"},
      {"sidecar wins over ambient",
       "shop",
       {{"istio-injection", "enabled"}, {"istio.io/dataplane-mode", "ambient"}},
       {},
       {},
       false,
       cluster,
       Sidecar,
       "will be injected: namespace label istio-injection=enabled"},
      {"offline, unknown namespace",
       "shop",
       {},
       {},
       {},
       false,
       offline,
       Sidecar,
       "will be injected: offline injection, no opt-out"},
      {"offline, pod opt-out",
       "shop",
       {},
       {{"sidecar.istio.io/inject", "false"}},
       {},
       false,
       offline,
       Skipped,
       "injection opted out (pod label sidecar.istio.io/inject=false)"},
      {"offline, annotation opt-out",
       "shop",
       {},
       {},
       {{"sidecar.istio.io/inject", "false"}},
       false,
       offline,
       Skipped,
       "injection opted out (sidecar.istio.io/inject)"},
      {"offline, disabled namespace",
       "shop",
       {{"istio-injection", "disabled"}},
       {},
       {},
       false,
       offline,
       Skipped,
       "injection opted out (namespace label istio-injection=disabled)"},
      {"offline, ambient namespace",
       "shop",
       {{"istio.io/dataplane-mode", "ambient"}},
       {},
       {},
       false,
       offline,
       Ambient,
       "ambient (istio.io/dataplane-mode=ambient)"},
      {"offline, ambient pod",
       "shop",
       {},
       {{"istio.io/dataplane-mode", "ambient"}},
       {},
       false,
       offline,
       Ambient,
       "ambient (istio.io/dataplane-mode=ambient)"},
      {"offline, kube-system",
       "kube-system",
       {},
       {},
       {},
       false,
       offline,
       Skipped,
       "namespace kube-system is never injected"},
      {"offline, hostNetwork",
       "shop",
       {},
       {},
       {},
       true,
       offline,
       Skipped,
       "hostNetwork pods are never injected"},
  }));
  CAPTURE(row.name);
  const validation::Namespace ns = makeNamespace(row.ns, row.ns_labels);
  Injector injector;
  injector.context = {row.ns, &ns, "", row.selection};
  const Json pod = podFor(row);
  const Injection injection = injector.ok(pod);
  CHECK(injection.mode == row.mode);
  CHECK(injection.reason == row.reason);
  CHECK(pod.patch(injection.patch) == injection.pod);
  if (row.mode == Skipped) {
    CHECK(injection.patch.empty());
    CHECK(injection.pod == pod);
  }
}

TEST_CASE("the injector and `peergate check` make the same dataplane decision",
          "[inject][decision]") {
  const Labels pod_labels = GENERATE(Labels{}, Labels{{"sidecar.istio.io/inject", "false"}},
                                     Labels{{"istio.io/dataplane-mode", "ambient"}});
  const Labels ns_labels =
      GENERATE(Labels{}, Labels{{"istio-injection", "enabled"}},
               Labels{{"istio.io/dataplane-mode", "ambient"}}, Labels{{"istio.io/rev", "canary"}});
  const validation::Namespace ns = makeNamespace("shop", ns_labels);
  Json pod = appPod();
  pod["metadata"]["labels"] = pod_labels;
  validation::Workload workload;
  workload.kind = "Pod";
  workload.meta.namespace_name = "shop";
  workload.pod_labels = pod_labels;
  workload.spec.containers = {"web", "sidecar-logger"};
  const validation::DataplaneDecision expected =
      validation::decideDataplane(workload, &ns, validation::MeshConfig{});
  Injector injector;
  injector.context.ns = &ns;
  const Injection injection = injector.ok(pod);
  CHECK((injection.mode == InjectionMode::Sidecar) == expected.sidecar);
  CHECK((injection.mode == InjectionMode::Ambient) == expected.ambient);
}

TEST_CASE("takes the namespace from the request when the pod has none", "[inject][decision]") {
  Json pod = appPod();
  pod["metadata"].erase("namespace");
  Injector injector;
  injector.context.namespace_name = "kube-system";
  CHECK(injector.ok(pod).mode == InjectionMode::Skipped);
  injector.context.namespace_name = "shop";
  CHECK(injector.ok(pod).mode == InjectionMode::Sidecar);
}

TEST_CASE("ambient mode adds only the dataplane-mode label", "[inject][ambient]") {
  const validation::Namespace ns = makeNamespace("shop", {{"istio.io/dataplane-mode", "ambient"}});
  Injector injector;
  injector.context.ns = &ns;
  const Json pod = appPod();
  const Injection injection = injector.ok(pod);
  REQUIRE(injection.mode == InjectionMode::Ambient);
  Json expected = pod;
  expected["metadata"]["labels"]["istio.io/dataplane-mode"] = "ambient";
  CHECK(injection.pod == expected);
  CHECK(injection.patch == Json::parse(R"([{"op": "add",
      "path": "/metadata/labels/istio.io~1dataplane-mode", "value": "ambient"}])"));
}

// ---------------------------------------------------------------------------------------------
// What an injected pod contains

TEST_CASE("injects the init container with the default interception", "[inject][sidecar]") {
  const Injection injection = Injector{}.ok(appPod());
  REQUIRE(injection.mode == InjectionMode::Sidecar);
  const Json& inits = injection.pod["spec"]["initContainers"];
  REQUIRE(inits.size() == 2);
  CHECK(inits[0]["name"] == "peergate-init");
  CHECK(inits[1]["name"] == "migrate");
  CHECK(inits[0]["image"] == "ghcr.io/peergate/peergate:latest");
  CHECK(inits[0]["args"] == Json::parse(R"(["iptables", "--proxy-uid", "1337", "--inbound-port",
      "15006", "--outbound-port", "15001", "--exclude-inbound-ports", "15020"])"));
  CHECK(inits[0]["securityContext"] == Json::parse(R"({"runAsUser": 0, "runAsNonRoot": false,
      "allowPrivilegeEscalation": false,
      "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}})"));
}

TEST_CASE("init container arguments honour each traffic annotation", "[inject][sidecar]") {
  const auto [annotation, value, flag, expected] =
      GENERATE(table<std::string, std::string, std::string, std::string>({
          {"traffic.sidecar.istio.io/excludeInboundPorts", "9090, 9091", "--exclude-inbound-ports",
           "15020,9090,9091"},
          {"traffic.sidecar.istio.io/excludeInboundPorts", "15020,9090", "--exclude-inbound-ports",
           "15020,9090"},
          {"traffic.sidecar.istio.io/excludeOutboundPorts", "5432,6379", "--exclude-outbound-ports",
           "5432,6379"},
          {"traffic.sidecar.istio.io/excludeOutboundIPRanges", "169.254.169.254/32,10.0.0.0/8",
           "--exclude-outbound-cidrs", "169.254.169.254/32,10.0.0.0/8"},
          {"traffic.sidecar.istio.io/includeInboundPorts", "8080,8443", "--include-inbound-ports",
           "8080,8443"},
          {"traffic.sidecar.istio.io/includeInboundPorts", "", "--include-inbound-ports", ""},
          {"status.sidecar.istio.io/port", "15099", "--exclude-inbound-ports", "15099"},
      }));
  CAPTURE(annotation, value);
  const Json args = initArgs(Injector{}.ok(withAnnotation(appPod(), annotation, value)).pod);
  const auto at = std::find(args.begin(), args.end(), Json(flag));
  REQUIRE(at != args.end());
  CHECK(*(at + 1) == expected);
  CHECK(std::count(args.begin(), args.end(), Json(flag)) == 1);
}

TEST_CASE("passes only the flags the annotations call for", "[inject][sidecar]") {
  const Json args = initArgs(
      Injector{}
          .ok(withAnnotation(appPod(), "traffic.sidecar.istio.io/includeInboundPorts", "*"))
          .pod);
  CHECK(args.size() == 9);
  for (const char* flag :
       {"--exclude-outbound-ports", "--exclude-outbound-cidrs", "--include-inbound-ports"}) {
    CHECK(std::find(args.begin(), args.end(), Json(flag)) == args.end());
  }
}

TEST_CASE("interceptionMode NONE injects no init container", "[inject][sidecar]") {
  const Injection injection =
      Injector{}.ok(withAnnotation(appPod(), "sidecar.istio.io/interceptionMode", "NONE"));
  CHECK(findNamed(injection.pod["spec"]["initContainers"], "peergate-init") == nullptr);
  CHECK(injection.pod["spec"]["initContainers"].size() == 1);
  CHECK(Json::parse(injection.pod["metadata"]["annotations"]["sidecar.istio.io/status"]
                        .get<std::string>())["initContainers"] == Json::array());
}

TEST_CASE("the proxy container runs as uid 1337, non-root, read-only", "[inject][sidecar]") {
  const Injection injection = Injector{}.ok(appPod());
  const Json& containers = injection.pod["spec"]["containers"];
  REQUIRE(containers.size() == 3);
  CHECK(containers[2]["name"] == "peergate-proxy");
  const Json& proxy = containers[2];
  CHECK(proxy["args"] == Json::array({"proxy"}));
  CHECK(proxy["securityContext"] == Json::parse(R"({"runAsUser": 1337, "runAsGroup": 1337,
      "runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
      "capabilities": {"drop": ["ALL"]}})"));
  CHECK(proxy["ports"] == Json::parse(R"([{"containerPort": 15020, "name": "http-admin",
      "protocol": "TCP"}])"));
  CHECK(proxy["readinessProbe"]["httpGet"] ==
        Json::parse(R"({"path": "/healthz/ready", "port": 15020})"));
  CHECK(proxy["volumeMounts"] == Json::parse(R"([
      {"name": "peergate-identity", "mountPath": "/var/run/peergate/identity"},
      {"name": "peergate-token", "mountPath": "/var/run/secrets/tokens", "readOnly": true},
      {"name": "peergate-ca-root", "mountPath": "/var/run/peergate/ca-root", "readOnly": true}])"));
}

TEST_CASE("the proxy learns who it is from the downward API", "[inject][sidecar]") {
  const Json proxy = proxyOf(Injector{}.ok(appPod()).pod);
  CHECK(envOf(proxy, "POD_NAME") == Json::parse(R"({"name": "POD_NAME",
      "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})"));
  CHECK((*envOf(proxy, "POD_NAMESPACE"))["valueFrom"]["fieldRef"]["fieldPath"] ==
        "metadata.namespace");
  CHECK((*envOf(proxy, "INSTANCE_IP"))["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP");
  CHECK((*envOf(proxy, "SERVICE_ACCOUNT"))["valueFrom"]["fieldRef"]["fieldPath"] ==
        "spec.serviceAccountName");
  CHECK((*envOf(proxy, "PEERGATE_CONTROL_PLANE"))["value"] == "peergate.peergate-system.svc:15012");
  CHECK_FALSE(envOf(proxy, "PEERGATE_ADMIN_PORT"));
}

TEST_CASE("adds the identity, token and mesh-root volumes", "[inject][sidecar]") {
  const Json volumes = Injector{}.ok(appPod()).pod["spec"]["volumes"];
  CHECK(volumes == Json::parse(R"([
      {"name": "peergate-identity", "emptyDir": {"medium": "Memory"}},
      {"name": "peergate-token", "projected": {"sources": [{"serviceAccountToken":
          {"audience": "peergate-ca", "expirationSeconds": 3600, "path": "token"}}]}},
      {"name": "peergate-ca-root", "configMap": {"name": "peergate-ca-root"}}])"));
}

TEST_CASE("uses the configured image and ports", "[inject][sidecar]") {
  Injector injector;
  injector.config.proxy_image = "registry.local/peergate:1.2";
  injector.config.admin_port = 15030;
  injector.config.control_plane_address = "cp:443";
  const Injection injection = injector.ok(appPod());
  const Json& proxy = proxyOf(injection.pod);
  CHECK(proxy["image"] == "registry.local/peergate:1.2");
  CHECK(proxy["ports"][0]["containerPort"] == 15030);
  CHECK((*envOf(proxy, "PEERGATE_CONTROL_PLANE"))["value"] == "cp:443");
  CHECK(injection.pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] == 15030);
}

TEST_CASE("status.sidecar.istio.io/port moves the admin port", "[inject][sidecar]") {
  const Injection injection =
      Injector{}.ok(withAnnotation(appPod(), "status.sidecar.istio.io/port", "15099"));
  const Json& proxy = proxyOf(injection.pod);
  CHECK(proxy["ports"][0]["containerPort"] == 15099);
  CHECK(proxy["readinessProbe"]["httpGet"]["port"] == 15099);
  CHECK((*envOf(proxy, "PEERGATE_ADMIN_PORT"))["value"] == "15099");
  CHECK(injection.pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 15099);
  CHECK(injection.pod["metadata"]["annotations"]["prometheus.io/port"] == "15099");
}

TEST_CASE("readiness annotations tune the proxy's readiness probe", "[inject][sidecar]") {
  Json pod = withAnnotation(appPod(), "readiness.status.sidecar.istio.io/periodSeconds", "9");
  pod = withAnnotation(pod, "readiness.status.sidecar.istio.io/failureThreshold", "4");
  const Json probe = proxyOf(Injector{}.ok(pod).pod)["readinessProbe"];
  CHECK(probe["periodSeconds"] == 9);
  CHECK(probe["failureThreshold"] == 4);
}

TEST_CASE("rewrites app probes and records the originals for the proxy", "[inject][probes]") {
  const Injection injection = Injector{}.ok(appPod());
  const Json& web = injection.pod["spec"]["containers"][0];
  CHECK(web["readinessProbe"] == Json::parse(R"({"httpGet": {"path": "/app-health/web/readyz",
      "port": 15020}, "periodSeconds": 5})"));
  CHECK(web["livenessProbe"] == Json::parse(R"({"httpGet": {"path": "/app-health/web/livez",
      "port": 15020}})"));
  CHECK(web["startupProbe"] == Json::parse(R"({"exec": {"command": ["true"]}})"));
  const std::optional<Json> probers = envOf(proxyOf(injection.pod), "PEERGATE_APP_PROBERS");
  REQUIRE(probers);
  CHECK(Json::parse((*probers)["value"].get<std::string>()) == Json::parse(R"({
      "/app-health/web/readyz": {"httpGet": {"path": "/ready", "port": 8080}},
      "/app-health/web/livez": {"tcpSocket": {"port": 8080}}})"));
}

TEST_CASE("rewriteAppHTTPProbers false leaves the probes alone", "[inject][probes]") {
  const Json pod = withAnnotation(appPod(), "sidecar.istio.io/rewriteAppHTTPProbers", "false");
  const Injection injection = Injector{}.ok(pod);
  CHECK(injection.pod["spec"]["containers"][0]["readinessProbe"] ==
        pod["spec"]["containers"][0]["readinessProbe"]);
  CHECK_FALSE(envOf(proxyOf(injection.pod), "PEERGATE_APP_PROBERS"));
}

TEST_CASE("the mesh default for probe rewriting applies without the annotation",
          "[inject][probes]") {
  Injector injector;
  injector.mesh.rewrite_app_http_probes = false;
  CHECK(injector.ok(appPod()).pod["spec"]["containers"][0]["livenessProbe"] ==
        appPod()["spec"]["containers"][0]["livenessProbe"]);
  const Json pod = withAnnotation(appPod(), "sidecar.istio.io/rewriteAppHTTPProbers", "true");
  CHECK(injector.ok(pod).pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] ==
        "/app-health/web/livez");
}

TEST_CASE("labels the pod only where labels are absent", "[inject][sidecar]") {
  Json pod = appPod();
  pod["metadata"]["labels"] = {
      {"app", "web"}, {"version", "v2"}, {"security.istio.io/tlsMode", "disabled"}};
  const Json labels = Injector{}.ok(pod).pod["metadata"]["labels"];
  CHECK(labels["security.istio.io/tlsMode"] == "disabled");
  CHECK(labels["service.istio.io/canonical-name"] == "web");
  CHECK(labels["service.istio.io/canonical-revision"] == "v2");
}

TEST_CASE("derives the canonical name and revision like Istio", "[inject][sidecar]") {
  struct Row {
    std::string name;
    Json metadata;
    std::string workload;
    std::string canonical_name;
    std::string canonical_revision;
  };
  const Row row = GENERATE(values<Row>({
      {"app.kubernetes.io labels first",
       {{"labels",
         {{"app.kubernetes.io/name", "shop"},
          {"app", "web"},
          {"app.kubernetes.io/version", "1.0"},
          {"version", "v2"}}}},
       "",
       "shop",
       "1.0"},
      {"app and version", {{"labels", {{"app", "web"}, {"version", "v2"}}}}, "", "web", "v2"},
      {"pod name", {{"name", "solo"}}, "", "solo", "latest"},
      {"deployment from replicaset owner",
       {{"generateName", "web-7d4b9c-"},
        {"labels", {{"pod-template-hash", "7d4b9c"}}},
        {"ownerReferences",
         {{{"kind", "ReplicaSet"}, {"name", "web-7d4b9c"}, {"controller", true}}}}},
       "",
       "web",
       "latest"},
      {"cronjob from job owner",
       {{"generateName", "report-28391022-"},
        {"ownerReferences",
         {{{"kind", "Job"}, {"name", "report-28391022"}, {"controller", true}}}}},
       "",
       "report",
       "latest"},
      {"generateName only", {{"generateName", "batch-"}}, "", "batch", "latest"},
      {"template with its controller's name", Json::object(), "checkout", "checkout", "latest"},
  }));
  CAPTURE(row.name);
  Json pod = appPod();
  pod["metadata"] = row.metadata;
  Injector injector;
  injector.context.workload_name = row.workload;
  const Json labels = injector.ok(pod).pod["metadata"]["labels"];
  CHECK(labels["service.istio.io/canonical-name"] == row.canonical_name);
  CHECK(labels["service.istio.io/canonical-revision"] == row.canonical_revision);
  CHECK(labels["security.istio.io/tlsMode"] == "istio");
}

TEST_CASE("annotates the pod with what was injected", "[inject][sidecar]") {
  const Json annotations = Injector{}.ok(appPod()).pod["metadata"]["annotations"];
  CHECK(
      annotations["sidecar.istio.io/status"] ==
      R"({"initContainers":["peergate-init"],"containers":["peergate-proxy"],)"
      R"("volumes":["peergate-identity","peergate-token","peergate-ca-root"],"imagePullSecrets":[],)"
      R"("revision":"default"})");
  CHECK(annotations["kubectl.kubernetes.io/default-container"] == "web");
  CHECK(annotations["prometheus.io/scrape"] == "true");
  CHECK(annotations["prometheus.io/port"] == "15020");
  CHECK(annotations["prometheus.io/path"] == "/metrics");
}

TEST_CASE("keeps the user's default-container and prometheus annotations", "[inject][sidecar]") {
  Json pod = withAnnotation(appPod(), "kubectl.kubernetes.io/default-container", "sidecar-logger");
  pod = withAnnotation(pod, "prometheus.io/port", "9102");
  const Json annotations = Injector{}.ok(pod).pod["metadata"]["annotations"];
  CHECK(annotations["kubectl.kubernetes.io/default-container"] == "sidecar-logger");
  CHECK(annotations["prometheus.io/port"] == "9102");
}

// ---------------------------------------------------------------------------------------------
// Patch, idempotence, native sidecars

TEST_CASE("applying the JSON Patch to the original yields the injected pod", "[inject][patch]") {
  const Json pod =
      GENERATE(appPod(), withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "true"),
               withAnnotation(appPod(), "sidecar.istio.io/interceptionMode", "NONE"),
               Json::parse(R"({"metadata": {"name": "bare"},
                      "spec": {"containers": [{"name": "app", "image": "app"}]}})"));
  const Injection injection = Injector{}.ok(pod);
  CHECK(injection.mode == InjectionMode::Sidecar);
  CHECK(pod.patch(injection.patch) == injection.pod);
  for (const Json& op : injection.patch) CHECK(op["path"].get<std::string>().rfind("/", 0) == 0);
}

TEST_CASE("injecting an injected pod yields the same pod and an empty patch",
          "[inject][idempotent]") {
  const Json pod =
      GENERATE(appPod(), withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "true"),
               withAnnotation(appPod(), "sidecar.istio.io/interceptionMode", "NONE"),
               withAnnotation(appPod(), "traffic.sidecar.istio.io/excludeOutboundPorts", "5432"),
               withAnnotation(appPod(), "sidecar.istio.io/rewriteAppHTTPProbers", "false"));
  const Injector injector;
  const Injection once = injector.ok(pod);
  const Injection twice = injector.ok(once.pod);
  CHECK(twice.mode == InjectionMode::Sidecar);
  CHECK(twice.pod == once.pod);
  CHECK(twice.patch.empty());
}

TEST_CASE("re-injection applies changed annotations to the earlier injection",
          "[inject][idempotent]") {
  const Injector injector;
  const Injection once = injector.ok(appPod());
  const Json changed = withAnnotation(once.pod, "sidecar.istio.io/nativeSidecar", "true");
  const Injection twice = injector.ok(changed);
  CHECK(twice.pod ==
        injector.ok(withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "true")).pod);
  CHECK(changed.patch(twice.patch) == twice.pod);
}

TEST_CASE("an injected pod no longer selected keeps its proxy", "[inject][idempotent]") {
  const Json injected = Injector{}.ok(appPod()).pod;
  Injector injector;
  injector.context.ns = nullptr;
  const Injection again = injector.ok(injected);
  CHECK(again.mode == InjectionMode::Skipped);
  CHECK(again.pod == injected);
  CHECK(again.reason == "keeps the proxy injected earlier (no injection label selects it)");
}

TEST_CASE("a pod with its own proxy container is not injected", "[inject][idempotent]") {
  Json pod = appPod();
  pod["spec"]["containers"].push_back({{"name", "istio-proxy"}, {"image", "proxyv2"}});
  const Injection injection = Injector{}.ok(pod);
  CHECK(injection.mode == InjectionMode::Skipped);
  CHECK(injection.patch.empty());
}

TEST_CASE("a native sidecar goes right after peergate-init with restartPolicy Always",
          "[inject][native]") {
  const Injection injection =
      Injector{}.ok(withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "true"));
  const Json& inits = injection.pod["spec"]["initContainers"];
  REQUIRE(inits.size() == 3);
  CHECK(inits[0]["name"] == "peergate-init");
  CHECK(inits[1]["name"] == "peergate-proxy");
  CHECK(inits[1]["restartPolicy"] == "Always");
  CHECK(inits[2]["name"] == "migrate");
  CHECK(findNamed(injection.pod["spec"]["containers"], "peergate-proxy") == nullptr);
  CHECK(Json::parse(injection.pod["metadata"]["annotations"]["sidecar.istio.io/status"]
                        .get<std::string>())["initContainers"] ==
        Json::array({"peergate-init", "peergate-proxy"}));
}

TEST_CASE("a native sidecar without interception is the first init container", "[inject][native]") {
  Json pod = withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "true");
  pod = withAnnotation(pod, "sidecar.istio.io/interceptionMode", "NONE");
  const Json inits = Injector{}.ok(pod).pod["spec"]["initContainers"];
  REQUIRE(inits.size() == 2);
  CHECK(inits[0]["name"] == "peergate-proxy");
  CHECK(inits[1]["name"] == "migrate");
}

TEST_CASE("nativeSidecar other than \"true\" keeps the proxy in containers", "[inject][native]") {
  const Json pod = withAnnotation(appPod(), "sidecar.istio.io/nativeSidecar", "false");
  CHECK(findNamed(Injector{}.ok(pod).pod["spec"]["containers"], "peergate-proxy") != nullptr);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_CASE("an invalid annotation is an injection error with Istio's message", "[inject][errors]") {
  const Json pod = withAnnotation(appPod(), "traffic.sidecar.istio.io/excludeInboundPorts", "x");
  const validation::Result<Injection> result = Injector{}.run(pod);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "inject.annotation");
  CHECK(result.error().message ==
        "invalid value 'x' for annotation 'traffic.sidecar.istio.io/excludeInboundPorts': "
        "excludeInboundPorts invalid: failed parsing port 'x': failed parsing port 'x': "
        "strconv.ParseUint: parsing \"x\": invalid syntax");
}

TEST_CASE("invalid annotations do not matter when the pod is not injected", "[inject][errors]") {
  Json pod = withAnnotation(appPod(), "sidecar.istio.io/interceptionMode", "bogus");
  pod["spec"]["hostNetwork"] = true;
  CHECK(Injector{}.run(pod).ok());
}

TEST_CASE("an app container on a port the proxy reserves is an error", "[inject][errors]") {
  const int port = GENERATE(15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090);
  Json pod = appPod();
  pod["spec"]["containers"][1]["ports"] = {{{"containerPort", 9000}}, {{"containerPort", port}}};
  const validation::Result<Injection> result = Injector{}.run(pod);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "inject.reserved_port");
  CHECK(result.error().path == "spec.containers[1].ports[1].containerPort");
  CHECK(result.error().message ==
        "container 'sidecar-logger' declares port " + std::to_string(port) +
            ", which the peergate proxy reserves (15000, 15001, 15004, 15006, 15008, 15020, "
            "15021, 15053, 15090): move the application to another port, or opt the pod out of "
            "injection with the label sidecar.istio.io/inject=false");
}

TEST_CASE("an app container running as the proxy's uid is an error", "[inject][errors]") {
  Json pod = appPod();
  pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 1337;
  validation::Result<Injection> result = Injector{}.run(pod);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "inject.reserved_uid");
  CHECK(result.error().path == "spec.containers[0].securityContext.runAsUser");
  CHECK(result.error().message ==
        "container 'web' runs as uid 1337, which is reserved for the peergate proxy: its traffic "
        "would bypass interception and mTLS; run the application as another user");

  pod = appPod();
  pod["spec"]["securityContext"]["runAsUser"] = 1337;
  result = Injector{}.run(pod);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().path == "spec.securityContext.runAsUser");

  pod["spec"]["containers"][0]["securityContext"]["runAsUser"] = 1000;
  pod["spec"]["containers"][1]["securityContext"]["runAsUser"] = 1001;
  CHECK(Injector{}.run(pod).ok());
}

TEST_CASE("rejects objects that are not pods", "[inject][errors]") {
  const auto [text, path] = GENERATE(table<std::string, std::string>({
      {R"([1, 2])", ""},
      {R"({"metadata": {}})", "spec"},
      {R"({"spec": {}})", "spec.containers"},
      {R"({"spec": {"containers": [{"image": "x"}]}})", "spec.containers[0].name"},
      {R"({"spec": {"containers": [], "volumes": {}}})", "spec.volumes"},
      {R"({"metadata": {"labels": []}, "spec": {"containers": []}})", "metadata.labels"},
  }));
  CAPTURE(text);
  const validation::Result<Injection> result = Injector{}.run(Json::parse(text));
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "inject.invalid_pod");
  CHECK(result.error().path == path);
}

TEST_CASE("names the injection modes for logs and metrics", "[inject]") {
  CHECK(toString(InjectionMode::Sidecar) == "sidecar");
  CHECK(toString(InjectionMode::Ambient) == "ambient");
  CHECK(toString(InjectionMode::Skipped) == "skipped");
}

}  // namespace
}  // namespace peergate::webhook
