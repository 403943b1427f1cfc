// Decoding manifests into the engine model: kinds, Lists, documents, lines and shape errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "peergate/validation/decode.h"
#include "peergate/validation/model.h"

using namespace peergate::validation;

namespace {

DecodeOutcome decode(std::string_view text, Inputs& inputs, std::string_view file = "in.yaml") {
  return decodeInto(text, file, inputs);
}

// Decodes text that must load without errors.
Inputs decodeClean(std::string_view text) {
  Inputs inputs;
  const DecodeOutcome outcome = decode(text, inputs);
  for (const Error& error : outcome.errors) UNSCOPED_INFO(error.describe());
  REQUIRE(outcome.ok());
  return inputs;
}

const PeerAuthentication& onlyPolicy(const Inputs& inputs) {
  REQUIRE(inputs.peer_authentications.size() == 1);
  return inputs.peer_authentications.front();
}

std::string readTestdata(const std::string& name) {
  std::ifstream in(std::string(PEERGATE_SOURCE_DIR) + "/tests/testdata/decode/" + name,
                   std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string policyWithSpec(const std::string& spec_lines) {
  return "apiVersion: security.istio.io/v1\n"
         "kind: PeerAuthentication\n"
         "metadata:\n"
         "  name: p\n"
         "  namespace: foo\n"
         "spec:\n" +
         spec_lines;
}

}  // namespace

TEST_CASE("modes print as Istio spells them and parse from names and proto integers", "[decode]") {
  using Row = std::tuple<std::string, std::optional<Mode>>;
  auto [text, expected] = GENERATE(table<std::string, std::optional<Mode>>({
      Row{"UNSET", Mode::Unset},
      Row{"DISABLE", Mode::Disable},
      Row{"PERMISSIVE", Mode::Permissive},
      Row{"STRICT", Mode::Strict},
      Row{"0", Mode::Unset},
      Row{"1", Mode::Disable},
      Row{"2", Mode::Permissive},
      Row{"3", Mode::Strict},
      Row{"strict", std::nullopt},
      Row{"4", std::nullopt},
      Row{"03", std::nullopt},
      Row{"", std::nullopt},
      Row{" STRICT", std::nullopt},
  }));
  CAPTURE(text);
  CHECK(parseMode(text) == expected);
  if (expected) CHECK(parseMode(toString(*expected)) == expected);
}

TEST_CASE("an error describes itself as file:line: document N: path: message", "[decode]") {
  using Row = std::tuple<Error, std::string>;
  auto [error, expected] = GENERATE(table<Error, std::string>({
      Row{{"schema.type", "a.yaml", 2, 14, "spec.mtls", "expected a map"},
          "a.yaml:14: document 2: spec.mtls: expected a map"},
      Row{{"limit.size", "a.yaml", 0, 0, "", "too big"}, "a.yaml: document 0: too big"},
      Row{{"schema.type", "", 1, 0, "spec", "bad"}, "document 1: spec: bad"},
      Row{{"json.syntax", "", 0, 3, "", "bad"}, "line 3: document 0: bad"},
  }));
  CHECK(error.describe() == expected);
}

TEST_CASE("decodes a PeerAuthentication of v1 and v1beta1", "[decode]") {
  const std::string api_version = GENERATE("security.istio.io/v1", "security.istio.io/v1beta1");
  const Inputs inputs = decodeClean(
      "# a comment\n"
      "apiVersion: " +
      api_version +
      "\n"
      "kind: PeerAuthentication\n"
      "metadata:\n"
      "  name: httpbin\n"
      "  namespace: foo\n"
      "  creationTimestamp: \"2024-01-02T03:04:05Z\"\n"
      "  labels: {team: a, version: 2}\n"
      "spec:\n"
      "  selector:\n"
      "    matchLabels:\n"
      "      app: httpbin\n"
      "  mtls:\n"
      "    mode: STRICT\n"
      "  portLevelMtls:\n"
      "    8080:\n"
      "      mode: PERMISSIVE\n");
  const PeerAuthentication& policy = onlyPolicy(inputs);
  CHECK(policy.api_version == api_version);
  CHECK(policy.meta.name == "httpbin");
  CHECK(policy.meta.namespace_name == "foo");
  CHECK(policy.meta.creation_timestamp == "2024-01-02T03:04:05Z");
  CHECK(policy.meta.labels == Labels{{"team", "a"}, {"version", "2"}});
  CHECK(policy.meta.source.file == "in.yaml");
  CHECK(policy.meta.source.document == 0);
  CHECK(policy.meta.source.line == 2);
  CHECK(policy.selector == Labels{{"app", "httpbin"}});
  CHECK(policy.mtls.text == "STRICT");
  CHECK(policy.mtls.mode == Mode::Strict);
  CHECK(policy.mtls.valid);
  REQUIRE(policy.port_level_mtls);
  REQUIRE(policy.port_level_mtls->size() == 1);
  CHECK(policy.port_level_mtls->front().key == "8080");
  CHECK(policy.port_level_mtls->front().port == 8080);
  CHECK(policy.port_level_mtls->front().mode.mode == Mode::Permissive);
  CHECK(policy.ref() == ObjectRef{"PeerAuthentication", "foo", "httpbin"});
}

TEST_CASE("a PeerAuthentication without a namespace lands in default, like kubectl apply",
          "[decode]") {
  const Inputs inputs = decodeClean(
      "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\n");
  const PeerAuthentication& policy = onlyPolicy(inputs);
  CHECK(policy.meta.namespace_name == "default");
  CHECK_FALSE(policy.selector);
  CHECK_FALSE(policy.port_level_mtls);
  CHECK(policy.mtls.text.empty());
  CHECK(policy.mtls.valid);
}

TEST_CASE("a selector is absent, present but empty, or carries labels", "[decode]") {
  using Row = std::tuple<std::string, std::optional<Labels>>;
  auto [spec, expected] = GENERATE(table<std::string, std::optional<Labels>>({
      Row{"  mtls: {mode: STRICT}\n", std::nullopt},
      Row{"  selector:\n", std::nullopt},
      Row{"  selector: {}\n", Labels{}},
      Row{"  selector: {matchLabels: {}}\n", Labels{}},
      Row{"  selector: {matchLabels: null}\n", Labels{}},
      Row{"  selector:\n    matchLabels:\n      app: a\n      version: 1\n",
          Labels{{"app", "a"}, {"version", "1"}}},
      Row{"  selector: {matchLabels: {on: true, empty: }}\n",
          Labels{{"on", "true"}, {"empty", ""}}},
  }));
  CAPTURE(spec);
  const Inputs inputs = decodeClean(policyWithSpec(spec));
  CHECK(onlyPolicy(inputs).selector == expected);
}

TEST_CASE("portLevelMtls keeps each key as written and parses ports and modes", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::optional<int64_t>, std::string, Mode>;
  auto [spec, key, port, mode_text, mode] =
      GENERATE(table<std::string, std::string, std::optional<int64_t>, std::string, Mode>({
          Row{"  portLevelMtls:\n    8080:\n      mode: STRICT\n", "8080", 8080, "STRICT",
              Mode::Strict},
          Row{"  portLevelMtls: {\"9090\": {mode: DISABLE}}\n", "9090", 9090, "DISABLE",
              Mode::Disable},
          Row{"  portLevelMtls: {0: {mode: STRICT}}\n", "0", 0, "STRICT", Mode::Strict},
          Row{"  portLevelMtls: {-1: {mode: STRICT}}\n", "-1", -1, "STRICT", Mode::Strict},
          Row{"  portLevelMtls: {abc: {mode: STRICT}}\n", "abc", std::nullopt, "STRICT",
              Mode::Strict},
          Row{"  portLevelMtls: {8080: {}}\n", "8080", 8080, "", Mode::Unset},
          Row{"  portLevelMtls:\n    8080:\n", "8080", 8080, "", Mode::Unset},
          Row{"  portLevelMtls: {8080: {mode: 3}}\n", "8080", 8080, "3", Mode::Strict},
          Row{"  portLevelMtls: {99999999999999999999: {}}\n", "99999999999999999999", INT64_MAX,
              "", Mode::Unset},
      }));
  CAPTURE(spec);
  const Inputs inputs = decodeClean(policyWithSpec(spec));
  const PeerAuthentication& policy = onlyPolicy(inputs);
  REQUIRE(policy.port_level_mtls);
  REQUIRE(policy.port_level_mtls->size() == 1);
  const PortLevelEntry& entry = policy.port_level_mtls->front();
  CHECK(entry.key == key);
  CHECK(entry.port == port);
  CHECK(entry.mode.text == mode_text);
  CHECK(entry.mode.mode == mode);
  CHECK(entry.mode.valid);
}

TEST_CASE("portLevelMtls: {} is present with no entry", "[decode]") {
  const Inputs inputs = decodeClean(policyWithSpec("  portLevelMtls: {}\n"));
  const PeerAuthentication& policy = onlyPolicy(inputs);
  REQUIRE(policy.port_level_mtls);
  CHECK(policy.port_level_mtls->empty());
}

TEST_CASE("mtls.mode keeps the text; names and JSON integers 0..3 are valid", "[decode]") {
  using Row = std::tuple<std::string, std::string, Mode, bool>;
  auto [mode_json, text, mode, valid] = GENERATE(table<std::string, std::string, Mode, bool>({
      Row{R"("STRICT")", "STRICT", Mode::Strict, true},
      Row{R"("PERMISSIVE")", "PERMISSIVE", Mode::Permissive, true},
      Row{R"("UNSET")", "UNSET", Mode::Unset, true},
      Row{"3", "3", Mode::Strict, true},
      Row{"1", "1", Mode::Disable, true},
      Row{"0", "0", Mode::Unset, true},
      Row{"7", "7", Mode::Unset, false},
      Row{R"("strict")", "strict", Mode::Unset, false},
      Row{"true", "true", Mode::Unset, false},
      Row{"2.0", "2.0", Mode::Unset, false},
  }));
  CAPTURE(mode_json);
  Inputs inputs;
  const auto outcome =
      decode(R"({"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication",)"
             R"("metadata":{"name":"p","namespace":"foo"},"spec":{"mtls":{"mode":)" +
                 mode_json + "}}}",
             inputs, "in.json");
  REQUIRE(outcome.ok());
  const PeerAuthentication& policy = onlyPolicy(inputs);
  CHECK(policy.mtls.text == text);
  CHECK(policy.mtls.mode == mode);
  CHECK(policy.mtls.valid == valid);
}

TEST_CASE("decodes every workload kind with its pod template", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::string, std::string>;
  auto [kind, api_version, template_prefix,
        indent] = GENERATE(table<std::string, std::string, std::string, std::string>({
      Row{"Deployment", "apps/v1", "spec:\n  template:\n", "    "},
      Row{"StatefulSet", "apps/v1", "spec:\n  template:\n", "    "},
      Row{"DaemonSet", "apps/v1", "spec:\n  template:\n", "    "},
      Row{"ReplicaSet", "apps/v1", "spec:\n  template:\n", "    "},
      Row{"Deployment", "extensions/v1beta1", "spec:\n  template:\n", "    "},
      Row{"Job", "batch/v1", "spec:\n  template:\n", "    "},
      Row{"CronJob", "batch/v1", "spec:\n  jobTemplate:\n    spec:\n      template:\n", "        "},
  }));
  CAPTURE(kind, api_version);
  std::string pod_template;
  for (const std::string line :
       {"metadata:", "  labels: {app: web}", "  annotations: {sidecar.istio.io/inject: \"true\"}",
        "spec:", "  serviceAccountName: web-sa", "  containers:", "  - name: web",
        "    ports:", "    - containerPort: 8080", "      name: http"}) {
    pod_template += indent + line + "\n";
  }
  const Inputs inputs = decodeClean("apiVersion: " + api_version + "\nkind: " + kind +
                                    "\nmetadata:\n  name: web\n  namespace: shop\n"
                                    "  labels: {owner: team}\n" +
                                    template_prefix + pod_template);
  REQUIRE(inputs.workloads.size() == 1);
  const Workload& workload = inputs.workloads.front();
  CHECK(workload.kind == kind);
  CHECK(workload.ref() == ObjectRef{kind, "shop", "web"});
  CHECK(workload.meta.labels == Labels{{"owner", "team"}});
  CHECK(workload.pod_labels == Labels{{"app", "web"}});
  CHECK(workload.pod_annotations == Labels{{"sidecar.istio.io/inject", "true"}});
  CHECK(workload.spec.service_account == "web-sa");
  CHECK(workload.spec.containers == std::vector<std::string>{"web"});
  REQUIRE(workload.spec.ports.size() == 1);
  CHECK(workload.spec.ports[0].port == 8080);
  CHECK(workload.spec.ports[0].name == "http");
  CHECK(workload.spec.ports[0].protocol == "TCP");
  CHECK(workload.spec.ports[0].container == "web");
  CHECK_FALSE(workload.is_live);
}

TEST_CASE("a Pod read back from a cluster carries its spec summary, owners and IP", "[decode]") {
  const Inputs inputs = decodeClean(R"(apiVersion: v1
kind: Pod
metadata:
  name: web-7d9f-abcde
  namespace: shop
  uid: 0b1c
  labels: {app: web}
  annotations: {prometheus.io/scrape: "true"}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9f, uid: 1234, controller: true}
spec:
  hostNetwork: true
  serviceAccount: legacy-sa
  initContainers:
  - name: peergate-proxy
    restartPolicy: Always
    ports: [{containerPort: 15006, name: inbound}]
  containers:
  - name: web
    ports:
    - {containerPort: 8080, name: http}
    - {containerPort: 9090, name: grpc, protocol: UDP}
    readinessProbe: {httpGet: {path: /ready, port: http}}
    livenessProbe: {tcpSocket: {port: 8080}}
    startupProbe: {httpGet: {path: /, port: missing}}
  - name: side
    ports: [{containerPort: 7070, name: http}]
    readinessProbe: {grpc: {port: 9090}}
    livenessProbe: {exec: {command: [true]}}
    startupProbe: {httpGet: {port: "7070"}}
status:
  phase: Running
  podIP: 10.1.2.3
)");
  REQUIRE(inputs.workloads.size() == 1);
  const Workload& pod = inputs.workloads.front();
  CHECK(pod.kind == "Pod");
  CHECK(pod.pod_labels == Labels{{"app", "web"}});
  CHECK(pod.pod_annotations == Labels{{"prometheus.io/scrape", "true"}});
  CHECK(pod.meta.uid == "0b1c");
  REQUIRE(pod.meta.owners.size() == 1);
  CHECK(pod.meta.owners[0].kind == "ReplicaSet");
  CHECK(pod.meta.owners[0].name == "web-7d9f");
  CHECK(pod.is_live);
  CHECK(pod.pod_ips == std::vector<std::string>{"10.1.2.3"});
  CHECK(pod.spec.host_network);
  CHECK(pod.spec.service_account == "legacy-sa");
  CHECK(pod.spec.containers == std::vector<std::string>{"web", "side"});
  CHECK(pod.spec.init_containers == std::vector<std::string>{"peergate-proxy"});
  REQUIRE(pod.spec.ports.size() == 4);
  CHECK(pod.spec.ports[1].protocol == "UDP");
  CHECK(pod.spec.ports[3].container == "peergate-proxy");
  CHECK(pod.spec.ports[3].port == 15006);

  using Row = std::tuple<std::string, std::string, std::string, std::optional<int64_t>>;
  const std::vector<Row> expected = {
      {"web", "readiness", "httpGet", 8080},        // named port of the same container
      {"web", "liveness", "tcpSocket", 8080},       // a number
      {"web", "startup", "httpGet", std::nullopt},  // a name no port carries
      {"side", "readiness", "grpc", 9090},          // grpc ports are numbers
      {"side", "liveness", "exec", std::nullopt},
      {"side", "startup", "httpGet", 7070},  // a number written as a string
  };
  REQUIRE(pod.spec.probes.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    const Probe& probe = pod.spec.probes[i];
    CHECK(std::tie(probe.container, probe.type, probe.handler, probe.port) == expected[i]);
  }
}

TEST_CASE("a dual-stack Pod carries every address of status.podIPs, canonical and once",
          "[decode]") {
  const Inputs inputs = decodeClean(R"(apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
status:
  podIP: 10.1.2.3
  podIPs: [{ip: 10.1.2.3}, {ip: "FD00:0:0::5"}, {ip: "fd00::5"}]
)");
  REQUIRE(inputs.workloads.size() == 1);
  CHECK(inputs.workloads[0].pod_ips == std::vector<std::string>{"10.1.2.3", "fd00::5"});
}

TEST_CASE("a pod IP that is not an address is an error at its path", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::string, std::string>;
  const auto [status, code, path,
              message] = GENERATE(table<std::string, std::string, std::string, std::string>({
      Row{"{podIP: 10.1.2}", "schema.value", "status.podIP",
          "\"10.1.2\" is not an IP address (such as 10.1.0.7 or fd00::7)"},
      Row{"{podIPs: [{ip: 10.1.2.3}, {ip: \"fd00::zz\"}]}", "schema.value", "status.podIPs[1].ip",
          "\"fd00::zz\" is not an IP address (such as 10.1.0.7 or fd00::7)"},
      Row{"{podIPs: [{ip: \"fe80::1%eth0\"}]}", "schema.value", "status.podIPs[0].ip",
          "\"fe80::1%eth0\" is not an IP address (such as 10.1.0.7 or fd00::7)"},
      Row{"{podIPs: [fd00::5]}", "schema.type", "status.podIPs[0]",
          "expected a map with ip, got a string"},
      Row{"{podIPs: [{}]}", "schema.required", "status.podIPs[0].ip",
          "is required: every podIPs entry names its address"},
      Row{"{podIPs: fd00::5}", "schema.type", "status.podIPs", "expected a list, got a string"},
  }));
  CAPTURE(status);
  Inputs inputs;
  const DecodeOutcome outcome = decode(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nstatus: " + status + "\n",
      inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == code);
  CHECK(outcome.errors[0].path == path);
  CHECK(outcome.errors[0].message == message);
}

TEST_CASE("an empty podIP is a pod without an address yet", "[decode]") {
  const Inputs inputs = decodeClean(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n"
      "status: {phase: Pending, podIP: \"\"}\n");
  REQUIRE(inputs.workloads.size() == 1);
  CHECK(inputs.workloads[0].pod_ips.empty());
}

TEST_CASE("a pod without a service account runs as default", "[decode]") {
  const Inputs inputs =
      decodeClean("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n");
  REQUIRE(inputs.workloads.size() == 1);
  CHECK(inputs.workloads[0].spec.service_account == "default");
  CHECK(inputs.workloads[0].meta.namespace_name == "default");
  CHECK_FALSE(inputs.workloads[0].is_live);
}

TEST_CASE("decodes a Service with selector and target ports", "[decode]") {
  const Inputs inputs = decodeClean(R"(apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: named, port: 81, targetPort: http}
  - {name: same, port: 82}
  - {name: quoted, port: 83, targetPort: "9000"}
)");
  REQUIRE(inputs.services.size() == 1);
  const Service& service = inputs.services.front();
  CHECK(service.selector == Labels{{"app", "web"}});
  REQUIRE(service.ports.size() == 4);
  CHECK(service.ports[0].port == 80);
  CHECK(service.ports[0].target_port_number == 8080);
  CHECK(service.ports[1].target_port_name == "http");
  CHECK_FALSE(service.ports[1].target_port_number);
  CHECK(service.ports[2].target_port_number == 82);
  CHECK(service.ports[3].target_port_number == 9000);
}

TEST_CASE("a Service without a selector has none", "[decode]") {
  const Inputs inputs = decodeClean(
      "apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {ports: [{port: 443}]}\n");
  REQUIRE(inputs.services.size() == 1);
  CHECK_FALSE(inputs.services[0].selector);
}

TEST_CASE("decodes a DestinationRule of any networking.istio.io version", "[decode]") {
  const std::string api_version = GENERATE("networking.istio.io/v1", "networking.istio.io/v1beta1",
                                           "networking.istio.io/v1alpha3");
  const Inputs inputs = decodeClean("apiVersion: " + api_version + R"(
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web.shop.svc.cluster.local
  exportTo: [".", "istio-system"]
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings:
    - port: {number: 8080}
      tls: {mode: DISABLE}
    - port: {number: 9090}
      connectionPool: {tcp: {maxConnections: 10}}
)");
  REQUIRE(inputs.destination_rules.size() == 1);
  const DestinationRule& rule = inputs.destination_rules.front();
  CHECK(rule.host == "web.shop.svc.cluster.local");
  CHECK(rule.tls_mode == "ISTIO_MUTUAL");
  CHECK(rule.export_to == std::vector<std::string>{".", "istio-system"});
  REQUIRE(rule.port_tls.size() == 1);
  CHECK(rule.port_tls[0].port == 8080);
  CHECK(rule.port_tls[0].tls_mode == "DISABLE");
}

TEST_CASE("decodes a Namespace with its labels", "[decode]") {
  const Inputs inputs = decodeClean(
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
      "    istio-injection: enabled\n");
  REQUIRE(inputs.namespaces.size() == 1);
  CHECK(inputs.namespaces[0].meta.name == "shop");
  CHECK(inputs.namespaces[0].meta.namespace_name.empty());
  CHECK(inputs.namespaces[0].meta.labels == Labels{{"istio-injection", "enabled"}});
}

TEST_CASE("reads the mesh config from the istio or peergate-mesh ConfigMap", "[decode]") {
  const std::string name = GENERATE("istio", "peergate-mesh");
  const Inputs inputs = decodeClean("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
                                    R"(
  namespace: istio-system
data:
  mesh: |-
    rootNamespace: mesh-root
    trustDomain: example.org
    rewriteAppHTTPProbe: false
    enableNamespacesByDefault: true
    autoInject: disabled
    defaultConfig: {discoveryAddress: istiod:15012}
  meshNetworks: 'networks: {}'
)");
  CHECK(inputs.mesh.from_input);
  CHECK(inputs.mesh.root_namespace == "mesh-root");
  CHECK(inputs.mesh.trust_domain == "example.org");
  CHECK_FALSE(inputs.mesh.rewrite_app_http_probes);
  CHECK(inputs.mesh.enable_namespaces_by_default);
  CHECK(inputs.mesh.auto_inject_policy == "disabled");
  CHECK(inputs.skipped_kinds.empty());
}

TEST_CASE("a mesh config that leaves keys out keeps the defaults", "[decode]") {
  const Inputs inputs = decodeClean(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
      "data:\n  mesh: 'trustDomain: td.local'\n");
  CHECK(inputs.mesh.from_input);
  CHECK(inputs.mesh.root_namespace == "istio-system");
  CHECK(inputs.mesh.trust_domain == "td.local");
  CHECK(inputs.mesh.rewrite_app_http_probes);
  CHECK(inputs.mesh.auto_inject_policy == "enabled");
}

TEST_CASE("a broken mesh config is an error at data.mesh", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
      "data:\n  mesh: |\n    rootNamespace: [a\n",
      inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "yaml.syntax");
  CHECK(outcome.errors[0].path == "data.mesh");
  CHECK(outcome.errors[0].line == 5);
  CHECK_FALSE(inputs.mesh.from_input);
}

TEST_CASE("other ConfigMaps and unknown kinds are counted, never an error", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g}
---
apiVersion: example.com/v1
kind: PeerAuthentication
metadata: {name: not-istio}
---
apiVersion: v1
kind: Secret
metadata: {name: t}
)",
                              inputs);
  CHECK(outcome.ok());
  CHECK(outcome.objects == 0);
  CHECK(inputs.skipped_kinds ==
        std::map<std::string, int>{
            {"ConfigMap", 1}, {"Gateway", 1}, {"PeerAuthentication", 1}, {"Secret", 2}});
  CHECK(inputs.peer_authentications.empty());
}

TEST_CASE("multi-document YAML numbers documents and lines and skips empty ones", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(R"(---
# only a comment
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: bad
  namespace: shop
spec:
  mtls: STRICT
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: good
  namespace: shop
spec:
  mtls: {mode: STRICT}
...
)",
                              inputs, "policies.yaml");
  REQUIRE(outcome.errors.size() == 1);
  const Error& error = outcome.errors[0];
  CHECK(error.code == "schema.type");
  CHECK(error.file == "policies.yaml");
  CHECK(error.document == 3);
  CHECK(error.line == 15);
  CHECK(error.path == "spec.mtls");
  CHECK(error.message == "expected a map like {mode: STRICT}, got a string");
  CHECK(error.describe() ==
        "policies.yaml:15: document 3: spec.mtls: expected a map like {mode: STRICT}, got a "
        "string");
  CHECK(outcome.objects == 2);
  REQUIRE(inputs.namespaces.size() == 1);
  CHECK(inputs.namespaces[0].meta.source.document == 1);
  CHECK(inputs.namespaces[0].meta.source.line == 4);
  const PeerAuthentication& good = onlyPolicy(inputs);
  CHECK(good.meta.name == "good");
  CHECK(good.meta.source.document == 4);
  CHECK(good.meta.source.line == 17);
}

TEST_CASE("a kubectl List in JSON decodes item by item, kind after items", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(readTestdata("kubectl_get_pods.json"), inputs, "pods.json");
  for (const Error& error : outcome.errors) UNSCOPED_INFO(error.describe());
  REQUIRE(outcome.ok());
  CHECK(outcome.objects == 3);
  REQUIRE(inputs.workloads.size() == 2);
  CHECK(inputs.workloads[0].meta.name == "httpbin-6d8f-x2");
  CHECK(inputs.workloads[0].meta.source.document == 0);
  CHECK(inputs.workloads[0].meta.source.line == 4);
  CHECK(inputs.workloads[0].is_live);
  CHECK(inputs.workloads[0].pod_ips == std::vector<std::string>{"10.1.0.12"});
  CHECK(inputs.workloads[1].meta.name == "curl-55c8-q1");
  CHECK(inputs.workloads[1].meta.source.document == 1);
  REQUIRE(inputs.peer_authentications.size() == 1);
  CHECK(inputs.peer_authentications[0].meta.source.document == 2);
  CHECK(inputs.skipped_kinds == std::map<std::string, int>{{"Secret", 1}});
}

TEST_CASE("a kubectl List in YAML decodes with item lines", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(readTestdata("kubectl_get_pa.yaml"), inputs, "pa.yaml");
  for (const Error& error : outcome.errors) UNSCOPED_INFO(error.describe());
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "schema.type");
  CHECK(outcome.errors[0].path == "items[1].spec.selector.matchLabels");
  CHECK(outcome.errors[0].document == 1);
  CHECK(outcome.errors[0].line == 25);
  CHECK(outcome.errors[0].message == "expected a map of string to string, got a list");
  REQUIRE(inputs.peer_authentications.size() == 2);
  const PeerAuthentication& first = inputs.peer_authentications[0];
  CHECK(first.meta.name == "default");
  CHECK(first.meta.namespace_name == "istio-system");
  CHECK(first.api_version == "security.istio.io/v1");
  CHECK(first.meta.source.document == 0);
  CHECK(first.meta.source.line == 3);
  CHECK(inputs.peer_authentications[1].meta.source.document == 2);
}

TEST_CASE("items of typed Lists may omit kind and apiVersion", "[decode]") {
  using Row = std::tuple<std::string, std::string>;
  auto [list_kind, item_body] = GENERATE(table<std::string, std::string>({
      Row{"PodList", R"({"metadata":{"name":"p","namespace":"a"},"spec":{"containers":[]}})"},
      Row{"PeerAuthenticationList",
          R"({"metadata":{"name":"p","namespace":"a"},"spec":{"mtls":{"mode":"STRICT"}}})"},
      Row{"NamespaceList", R"({"metadata":{"name":"a"}})"},
  }));
  CAPTURE(list_kind);
  // kind before and after items: both orders occur in the wild.
  const bool kind_first = GENERATE(true, false);
  const std::string kind_field = R"("kind":")" + list_kind + R"(",)";
  const std::string api =
      list_kind == "PeerAuthenticationList" ? "security.istio.io/v1beta1" : "v1";
  const std::string text = "{" + (kind_first ? kind_field : std::string()) + R"("apiVersion":")" +
                           api + R"(","items":[)" + item_body + "," + item_body + "]" +
                           (kind_first ? "" : "," + kind_field.substr(0, kind_field.size() - 1)) +
                           "}";
  Inputs inputs;
  const auto outcome = decode(text, inputs, "list.json");
  for (const Error& error : outcome.errors) UNSCOPED_INFO(error.describe());
  REQUIRE(outcome.ok());
  CHECK(outcome.objects == 2);
  CHECK(inputs.skipped_kinds.empty());
  if (list_kind == "PeerAuthenticationList") {
    REQUIRE(inputs.peer_authentications.size() == 2);
    CHECK(inputs.peer_authentications[1].api_version == "security.istio.io/v1beta1");
    CHECK(inputs.peer_authentications[1].meta.source.document == 1);
  }
}

TEST_CASE("items of a plain List must name their kind", "[decode]") {
  const std::string format = GENERATE("json", "yaml");
  const std::string text =
      format == "json"
          ? "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[\n"
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}},\n"
            "{\"metadata\":{\"name\":\"b\"}}]}\n"
          : "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: "
            "{name: a}}\n- metadata: {name: b}\n";
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "schema.required");
  CHECK(outcome.errors[0].path == "items[1].kind");
  CHECK(outcome.errors[0].document == 1);
  CHECK(outcome.errors[0].line == (format == "json" ? 3 : 5));
  CHECK(inputs.namespaces.size() == 1);
}

TEST_CASE("a top-level JSON array is read like a List", "[decode]") {
  Inputs inputs;
  const auto outcome =
      decode(R"([{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},)"
             R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":7,"labels":[1]}}])",
             inputs, "a.json");
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].path == "[1].metadata.labels");
  CHECK(outcome.errors[0].document == 1);
  CHECK(inputs.namespaces.size() == 1);
}

TEST_CASE("shape errors name the path, the line and what was expected", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::string, int, std::string>;
  auto [body, code, path, line, message] =
      GENERATE(table<std::string, std::string, std::string, int, std::string>({
          Row{"metadata: {name: p, namespace: foo}\nspec:\n  mtls: STRICT\n", "schema.type",
              "spec.mtls", 5, "expected a map like {mode: STRICT}, got a string"},
          Row{"metadata:\n  name: p\n  labels: [a]\n", "schema.type", "metadata.labels", 5,
              "expected a map of string to string, got a list"},
          Row{"metadata:\n  name: p\n  labels:\n    app: {x: 1}\n", "schema.type",
              "metadata.labels.app", 6, "expected a string value, got a map"},
          Row{"metadata: {name: p}\nspec:\n  selector:\n    matchLabels: [app]\n", "schema.type",
              "spec.selector.matchLabels", 6, "expected a map of string to string, got a list"},
          Row{"metadata: {name: p}\nspec:\n  selector: [app]\n", "schema.type", "spec.selector", 5,
              "expected a map with matchLabels, got a list"},
          Row{"metadata: {namespace: foo}\n", "schema.required", "metadata.name", 3,
              "is required: every object needs metadata.name"},
          Row{"spec: {}\n", "schema.required", "metadata.name", 1,
              "is required: every object needs metadata.name"},
          Row{"metadata: {name: \"\"}\n", "schema.required", "metadata.name", 3,
              "is empty: every object needs metadata.name"},
          Row{"metadata: {name: p}\nspec:\n  portLevelMtls:\n    8080: STRICT\n", "schema.type",
              "spec.portLevelMtls.8080", 6, "expected a map like {mode: STRICT}, got a string"},
          Row{"metadata: {name: p}\nspec:\n  portLevelMtls: [8080]\n", "schema.type",
              "spec.portLevelMtls", 5, "expected a map of port to {mode: ...}, got a list"},
          Row{"metadata: {name: p}\nspec:\n  mtls:\n    mode: [STRICT]\n", "schema.type",
              "spec.mtls.mode", 6,
              "expected a mode (UNSET, DISABLE, PERMISSIVE or STRICT), got a list"},
          Row{"metadata: {name: p}\nspec: STRICT\n", "schema.type", "spec", 4,
              "expected a map, got a string"},
          Row{"metadata: [p]\n", "schema.type", "metadata", 3, "expected a map, got a list"},
      }));
  CAPTURE(body);
  Inputs inputs;
  const auto outcome =
      decode("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" + body, inputs);
  REQUIRE(outcome.errors.size() == 1);
  const Error& error = outcome.errors[0];
  CHECK(error.code == code);
  CHECK(error.path == path);
  CHECK(error.line == line);
  CHECK(error.document == 0);
  CHECK(error.message == message);
  CHECK(inputs.peer_authentications.empty());
}

TEST_CASE("a workload with a wrongly typed field is reported and skipped", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      hostNetwork: "yes"
      containers:
      - name: web
        ports:
        - containerPort: "8080"
      - just-a-string
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: no-template}
spec: {replicas: 1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: fine}
spec: {template: {spec: {containers: [{name: a}]}}}
)",
                              inputs);
  REQUIRE(outcome.errors.size() == 4);
  CHECK(outcome.errors[0].path == "spec.template.spec.hostNetwork");
  CHECK(outcome.errors[0].line == 7);
  CHECK(outcome.errors[0].message == "expected a boolean (true or false), got a string");
  CHECK(outcome.errors[1].path == "spec.template.spec.containers[0].ports[0].containerPort");
  CHECK(outcome.errors[1].line == 11);
  CHECK(outcome.errors[1].message == "expected an integer, got a string");
  CHECK(outcome.errors[2].path == "spec.template.spec.containers[1]");
  CHECK(outcome.errors[2].line == 12);
  CHECK(outcome.errors[3].path == "spec.template");
  CHECK(outcome.errors[3].code == "schema.required");
  CHECK(outcome.errors[3].document == 1);
  CHECK(outcome.errors[3].line == 17);
  REQUIRE(inputs.workloads.size() == 1);
  CHECK(inputs.workloads[0].meta.name == "fine");
}

TEST_CASE("a JSON List item with a shape error is skipped, with its line", "[decode]") {
  const std::string text = R"({
  "apiVersion": "v1",
  "items": [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
    {
      "apiVersion": "security.istio.io/v1",
      "kind": "PeerAuthentication",
      "metadata": {"name": "p", "namespace": "a"},
      "spec": {
        "mtls": "STRICT"
      }
    },
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}
  ],
  "kind": "List"
})";
  Inputs inputs;
  const auto outcome = decode(text, inputs, "dump.json");
  REQUIRE(outcome.errors.size() == 1);
  const Error& error = outcome.errors[0];
  CHECK(error.path == "items[1].spec.mtls");
  CHECK(error.document == 1);
  CHECK(error.line == 10);
  CHECK(error.describe() ==
        "dump.json:10: document 1: items[1].spec.mtls: expected a map like {mode: STRICT}, got "
        "a string");
  CHECK(inputs.namespaces.size() == 2);
  CHECK(inputs.peer_authentications.empty());
  CHECK(outcome.objects == 2);
}

TEST_CASE("duplicate keys are errors in YAML and JSON", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::string, int, int>;
  auto [text, code, path, document, line] =
      GENERATE(table<std::string, std::string, std::string, int, int>({
          Row{"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n",
              "yaml.duplicate_key", "metadata.name", 0, 5},
          Row{"apiVersion: v1\nkind: Namespace\nkind: Pod\nmetadata: {name: a}\n",
              "yaml.duplicate_key", "kind", 0, 3},
          Row{"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n"
              "  metadata: {name: a, labels: {x: 1, x: 2}}\n",
              "yaml.duplicate_key", "items[0].metadata.labels.x", 0, 6},
          Row{"{\"apiVersion\": \"v1\", \"kind\": \"Namespace\",\n"
              " \"metadata\": {\"name\": \"a\",\n \"name\": \"b\"}}",
              "json.duplicate_key", "metadata.name", 0, 3},
          Row{"{\"kind\": \"List\", \"items\": [{\"kind\": \"Namespace\"},\n"
              "{\"kind\": \"Namespace\", \"metadata\": {\"labels\": {\"x\": \"1\",\n"
              "\"x\": \"2\"}}}]}",
              "json.duplicate_key", "items[1].metadata.labels.x", 1, 3},
      }));
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE_FALSE(outcome.errors.empty());
  const Error& error = outcome.errors.back();
  CHECK(error.code == code);
  CHECK(error.path == path);
  CHECK(error.document == document);
  CHECK(error.line == line);
  CHECK_THAT(error.message,
             Catch::Contains("duplicate key \"" + path.substr(path.rfind('.') + 1) + "\""));
  CHECK(inputs.namespaces.empty());
}

TEST_CASE("a duplicate key inside one List item skips only that item", "[decode]") {
  Inputs inputs;
  const auto outcome =
      decode(R"({"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"a"}},)"
             R"({"metadata":{"name":"b","name":"c"}},{"metadata":{"name":"d"}}]})",
             inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].path == "items[1].metadata.name");
  REQUIRE(inputs.namespaces.size() == 2);
  CHECK(inputs.namespaces[1].meta.name == "d");
  CHECK(inputs.namespaces[1].meta.source.document == 2);
}

TEST_CASE("YAML anchors, aliases and merge keys are expanded", "[decode]") {
  const Inputs inputs = decodeClean(R"(apiVersion: v1
kind: List
items:
- &ns
  apiVersion: v1
  kind: Namespace
  metadata: &meta {name: a, labels: {team: x}}
- <<: *ns
  metadata:
    <<: *meta
    name: b
- <<: [{kind: Namespace, apiVersion: v1}, {kind: Pod}]
  spec: &labels {k: v}
  metadata: {name: c, labels: *labels}
)");
  REQUIRE(inputs.namespaces.size() == 3);
  CHECK(inputs.namespaces[1].meta.name == "b");
  CHECK(inputs.namespaces[1].meta.labels == Labels{{"team", "x"}});
  CHECK(inputs.namespaces[2].meta.labels == Labels{{"k", "v"}});
}

TEST_CASE("decodeObjectInto decodes an already parsed object with its location", "[decode]") {
  const auto object = nlohmann::json::parse(R"({
    "apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
    "metadata": {"name": "p", "namespace": "foo"},
    "spec": {"selector": {"matchLabels": {"app": "a"}}, "mtls": {"mode": "STRICT"}}})");
  Inputs inputs;
  const auto outcome = decodeObjectInto(object, {"admission", 0, 0}, inputs);
  REQUIRE(outcome.ok());
  CHECK(outcome.objects == 1);
  const PeerAuthentication& policy = onlyPolicy(inputs);
  CHECK(policy.meta.source.file == "admission");
  CHECK(policy.selector == Labels{{"app", "a"}});

  auto broken = object;
  broken["spec"]["portLevelMtls"] = nlohmann::json::array({1});
  Inputs more;
  const auto failed = decodeObjectInto(broken, {"request.object", 2, 7}, more);
  REQUIRE(failed.errors.size() == 1);
  CHECK(failed.errors[0].file == "request.object");
  CHECK(failed.errors[0].document == 2);
  CHECK(failed.errors[0].line == 7);
  CHECK(failed.errors[0].path == "spec.portLevelMtls");
  CHECK(more.peer_authentications.empty());
}

TEST_CASE("decodeObjectInto reads Lists and refuses what is not an object", "[decode]") {
  const auto list = nlohmann::json::parse(
      R"({"kind":"NamespaceList","items":[{"metadata":{"name":"a"}},{"metadata":{}}]})");
  Inputs inputs;
  const auto outcome = decodeObjectInto(list, {}, inputs);
  CHECK(outcome.objects == 1);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].path == "items[1].metadata.name");
  CHECK(outcome.errors[0].document == 1);

  const auto scalar = decodeObjectInto(nlohmann::json("x"), {}, inputs);
  REQUIRE(scalar.errors.size() == 1);
  CHECK(scalar.errors[0].code == "schema.type");
  CHECK(scalar.errors[0].message ==
        "expected a Kubernetes object (a map with apiVersion and kind), got a string");
}

TEST_CASE("a document that is not an object or lacks a kind is an error", "[decode]") {
  using Row = std::tuple<std::string, std::string, std::string>;
  auto [text, code, path] = GENERATE(table<std::string, std::string, std::string>({
      Row{"just a string\n", "schema.type", ""},
      Row{"- a\n- b\n", "schema.type", "[0]"},
      Row{"apiVersion: v1\nmetadata: {name: x}\n", "schema.required", "kind"},
      Row{"kind: [Pod]\n", "schema.type", "kind"},
      Row{"{\"items\": [{\"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}]}",
          "schema.required", "kind"},
  }));
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() >= 1);
  CHECK(outcome.errors[0].code == code);
  CHECK(outcome.errors[0].path == path);
  CHECK(inputs.namespaces.empty());
}
