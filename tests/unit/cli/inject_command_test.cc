// Tests of `peergate inject`, driven in-process: every object printed, pod templates injected,
// everything else unchanged, invalid annotations are exit 65.

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

using Json = nlohmann::json;

struct Ran {
  int code = 0;
  std::string out;
  std::string err;
};

Ran peergate(const std::vector<std::string>& args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  const int code = run(args, in, out, err);
  return {code, out.str(), err.str()};
}

std::string testdata(const std::string& name) {
  return std::string(PEERGATE_SOURCE_DIR) + "/tests/testdata/inject/" + name;
}

std::string readFile(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

const Json* findNamed(const Json& list, const std::string& name) {
  for (const Json& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

Json injectedManifests() {
  const Ran ran = peergate({"inject", "-f", testdata("manifests.yaml"), "-o", "json"});
  INFO(ran.err);
  REQUIRE(ran.code == 0);
  CHECK(ran.err.empty());
  return Json::parse(ran.out);
}

TEST_CASE("inject matches the golden output", "[inject][cli][golden]") {
  const Json actual = injectedManifests();
  const std::string golden = testdata("manifests.injected.json");
  if (std::getenv("PEERGATE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(golden) << actual.dump(2) << "\n";
  }
  const Json expected = Json::parse(readFile(golden));
  INFO("diff: " << Json::diff(expected, actual).dump(2));
  CHECK(actual == expected);
}

TEST_CASE("inject prints every object and leaves unrelated ones unchanged", "[inject][cli]") {
  const Json items = injectedManifests()["items"];
  REQUIRE(items.size() == 8);
  CHECK(items[0] == Json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata":
      {"name": "legacy", "labels": {"istio.io/dataplane-mode": "ambient"}}})"));
  CHECK(items[1] == Json::parse(R"({"apiVersion": "v1", "kind": "Service", "metadata":
      {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"},
      "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})"));
  CHECK(items[2]["data"] == Json::parse(R"({"port": "8080", "enabled": "true", "empty": "",
      "mode": "0644"})"));
}

TEST_CASE("inject injects Deployment, Job and bare Pod templates", "[inject][cli]") {
  const Json items = injectedManifests()["items"];
  const Json& web = items[3]["spec"]["template"];
  REQUIRE(findNamed(web["spec"]["containers"], "peergate-proxy"));
  CHECK(web["metadata"]["labels"]["service.istio.io/canonical-name"] == "web");
  CHECK(web["metadata"]["labels"]["service.istio.io/canonical-revision"] == "v1");
  CHECK(web["spec"]["volumes"][0]["configMap"]["defaultMode"] == 420);  // YAML 1.1 octal
  const Json& args = web["spec"]["initContainers"][0]["args"];
  CHECK(std::find(args.begin(), args.end(), Json("5432")) != args.end());
  CHECK(items[3]["spec"]["replicas"] == 2);

  const Json& seed = items[7]["spec"]["template"];
  REQUIRE(findNamed(seed["spec"]["containers"], "peergate-proxy"));
  CHECK(seed["metadata"]["labels"]["service.istio.io/canonical-name"] == "seed");
}

TEST_CASE("inject honours ambient namespaces, hostNetwork and opt-outs", "[inject][cli]") {
  const Json items = injectedManifests()["items"];
  const Json& db = items[4]["spec"]["template"];
  CHECK(db["metadata"]["labels"] == Json::parse(R"({"app": "db",
      "istio.io/dataplane-mode": "ambient"})"));
  CHECK(db["spec"]["containers"].size() == 1);
  CHECK(items[5]["spec"]["containers"].size() == 1);  // hostNetwork
  CHECK_FALSE(items[5]["metadata"].contains("annotations"));
  const Json& report = items[6]["spec"]["jobTemplate"]["spec"]["template"];
  CHECK(report["spec"]["containers"].size() == 1);  // sidecar.istio.io/inject=false
}

TEST_CASE("inject keeps documents, their order and their keys' order in YAML", "[inject][cli]") {
  const Ran ran = peergate({"inject", "-f", testdata("manifests.yaml")});
  REQUIRE(ran.code == 0);
  std::size_t separators = 0;
  for (std::size_t at = ran.out.find("---\n"); at != std::string::npos;
       at = ran.out.find("---\n", at + 1)) {
    ++separators;
  }
  CHECK(separators == 7);
  const std::size_t replicas = ran.out.find("replicas:");
  const std::size_t selector = ran.out.find("selector:", replicas);
  const std::size_t strategy_template = ran.out.find("template:", selector);
  CHECK(replicas < selector);
  CHECK(selector < strategy_template);
  CHECK(ran.out.find("port: \"8080\"") != std::string::npos);
  CHECK(ran.out.find("enabled: \"true\"") != std::string::npos);
}

TEST_CASE("inject on its own output changes nothing", "[inject][cli][idempotent]") {
  const Ran once = peergate({"inject", "-f", testdata("manifests.yaml")});
  REQUIRE(once.code == 0);
  const Ran twice = peergate({"inject", "-f", "-"}, once.out);
  INFO(twice.err);
  REQUIRE(twice.code == 0);
  CHECK(twice.out == once.out);
}

TEST_CASE("inject reads JSON and prints a single object as JSON", "[inject][cli]") {
  const std::string pod = R"({"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "p", "namespace": "shop"},
      "spec": {"containers": [{"name": "app", "image": "app:1"}]}})";
  const Ran ran = peergate({"inject", "-f", "-", "-o", "json"}, pod);
  REQUIRE(ran.code == 0);
  const Json injected = Json::parse(ran.out);
  CHECK(injected["kind"] == "Pod");
  CHECK(injected["spec"]["containers"].size() == 2);
  CHECK(ran.out.rfind("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\"", 0) == 0);
}

TEST_CASE("inject honours a Namespace from the same input", "[inject][cli]") {
  const std::string input = R"(apiVersion: v1
kind: Namespace
metadata:
  name: quiet
  labels:
    istio-injection: disabled
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: quiet
spec:
  containers:
  - name: app
    image: app:1
)";
  const Ran ran = peergate({"inject", "-f", "-", "-o", "json"}, input);
  REQUIRE(ran.code == 0);
  CHECK(Json::parse(ran.out)["items"][1]["spec"]["containers"].size() == 1);
}

TEST_CASE("inject injects the items of a List", "[inject][cli]") {
  const std::string input = R"({"apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
      {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]})";
  const Ran ran = peergate({"inject", "-f", "-", "-o", "json"}, input);
  REQUIRE(ran.code == 0);
  const Json list = Json::parse(ran.out);
  CHECK(list["kind"] == "List");
  CHECK(list["items"][0]["spec"]["containers"].size() == 2);
  CHECK(list["items"][1] == Json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c"}})"));
}

TEST_CASE("inject exits 65 with Istio's message on an invalid annotation", "[inject][cli]") {
  const std::string input = R"(apiVersion: v1
kind: ConfigMap
metadata:
  name: c
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        traffic.sidecar.istio.io/excludeOutboundIPRanges: "10.0.0.1"
    spec:
      containers:
      - name: web
        image: web:1
)";
  const Ran ran = peergate({"inject", "-f", "-"}, input);
  CHECK(ran.code == 65);
  CHECK(ran.out.empty());
  CHECK(ran.err.find("-: document 1: spec.template.metadata.annotations: invalid value "
                     "'10.0.0.1' for annotation 'traffic.sidecar.istio.io/excludeOutboundIPRanges'"
                     ": excludeIPRanges invalid: failed parsing cidr '10.0.0.1': "
                     "netip.ParsePrefix(\"10.0.0.1\"): no '/'") != std::string::npos);
}

TEST_CASE("inject exits 65 when an app uses a port the proxy reserves", "[inject][cli]") {
  const std::string input = R"(apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: app
    image: app:1
    ports:
    - containerPort: 15001
)";
  const Ran ran = peergate({"inject", "-f", "-"}, input);
  CHECK(ran.code == 65);
  CHECK(ran.err.find("spec.containers[0].ports[0].containerPort: container 'app' declares port "
                     "15001") != std::string::npos);
}

TEST_CASE("inject exits 65 on unreadable or undecodable input", "[inject][cli]") {
  CHECK(peergate({"inject", "-f", testdata("does-not-exist.yaml")}).code == 65);
  const Ran yaml = peergate({"inject", "-f", "-"}, "a: [1, 2\n");
  CHECK(yaml.code == 65);
  CHECK(yaml.err.find("invalid YAML") != std::string::npos);
  CHECK(peergate({"inject", "-f", "-"}, "{\"kind\": ").code == 65);
}

TEST_CASE("inject needs -f and a known output format", "[inject][cli]") {
  CHECK(peergate({"inject"}).code == 64);
  CHECK(peergate({"inject", "-f", "-", "-o", "text"}).code == 64);
}

TEST_CASE("inject --help explains offline injection", "[inject][cli]") {
  const Ran ran = peergate({"inject", "--help"});
  CHECK(ran.code == 0);
  CHECK(ran.out.find("Offline, injection does not depend on a cluster") != std::string::npos);
}

}  // namespace
}  // namespace peergate::cli

namespace peergate::cli {
namespace {

TEST_CASE("inject keeps YAML scalars' types as kubectl reads them", "[inject][cli]") {
  const std::string manifest = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: scalars, namespace: default}
data: {text: "1.5"}
binaryData: {}
immutable: false
x-numbers: [0.5, .25, -1.5e3, 1e3, 1_000.5, 42, 1.2.3, 1e, ".5", 0x1F, 6., +7.0E-1]
)";
  const Ran ran = peergate({"inject", "-f", "-", "-o", "json"}, manifest);
  INFO(ran.err);
  REQUIRE(ran.code == 0);
  const Json numbers = Json::parse(ran.out)["x-numbers"];
  REQUIRE(numbers.size() == 12);
  CHECK(numbers[0] == 0.5);
  CHECK(numbers[1] == 0.25);
  CHECK(numbers[2] == -1500.0);
  CHECK(numbers[3] == 1000.0);
  CHECK(numbers[4] == 1000.5);
  CHECK(numbers[5] == 42);
  CHECK(numbers[6] == "1.2.3");
  CHECK(numbers[7] == "1e");
  CHECK(numbers[8] == ".5");
  CHECK(numbers[9] == 31);
  CHECK(numbers[10] == 6.0);
  CHECK(numbers[11] == 0.7);
  CHECK(Json::parse(ran.out)["data"]["text"] == "1.5");
}

}  // namespace
}  // namespace peergate::cli
