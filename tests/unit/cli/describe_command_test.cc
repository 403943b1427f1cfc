#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

std::string deployment(const std::string& ns, const std::string& name, int port) {
  return "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  selector:\n    matchLabels: {app: " + name +
         "}\n  template:\n    metadata:\n      labels: {app: " + name +
         "}\n    spec:\n      containers:\n        - name: " + name +
         "\n          image: example/" + name +
         ":1\n          ports: [{containerPort: " + std::to_string(port) + "}]\n";
}

std::string injectedNamespace(const std::string& name) {
  return "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name +
         "\n  labels: {istio-injection: enabled}\n";
}

// foo (injected, STRICT) holds httpbin and curl; bar (injected) holds httpbin.
std::string cluster() {
  return injectedNamespace("foo") + injectedNamespace("bar") + deployment("foo", "httpbin", 8000) +
         deployment("foo", "curl", 8080) + deployment("bar", "httpbin", 8000) +
         "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
         "  name: default\n  namespace: foo\nspec:\n  mtls: {mode: STRICT}\n";
}

CapturedRun describe(std::vector<std::string> extra) {
  std::vector<std::string> args = {"describe", "-f", "-"};
  args.insert(args.end(), extra.begin(), extra.end());
  return runCaptured(args, cluster());
}

std::vector<std::string> workloadIds(const CapturedRun& run) {
  std::vector<std::string> ids;
  const auto report = nlohmann::json::parse(run.out);
  for (const auto& workload : report["workloads"]) {
    ids.push_back(workload["namespace"].get<std::string>() + "/" +
                  workload["name"].get<std::string>());
  }
  return ids;
}

TEST_CASE("describe lists every workload sorted by namespace and name", "[cli][describe]") {
  const CapturedRun run = describe({"-o", "json"});
  CHECK(run.exit_code == kExitOk);
  CHECK(workloadIds(run) == std::vector<std::string>{"bar/httpbin", "foo/curl", "foo/httpbin"});
}

TEST_CASE("describe filters by namespace and by workload", "[cli][describe]") {
  using Args = std::vector<std::string>;
  using Ids = std::vector<std::string>;
  const auto [args, expected] = GENERATE(table<Args, Ids>({
      {Args{"-n", "foo"}, Ids{"foo/curl", "foo/httpbin"}},
      {Args{"httpbin"}, Ids{"bar/httpbin", "foo/httpbin"}},
      {Args{"-n", "foo", "httpbin"}, Ids{"foo/httpbin"}},
      {Args{"--namespace", "bar", "deployment/httpbin"}, Ids{"bar/httpbin"}},
      {Args{"Deployment/curl"}, Ids{"foo/curl"}},
  }));
  CAPTURE(args);
  Args full = args;
  full.insert(full.end(), {"-o", "json"});
  const CapturedRun run = describe(full);
  CHECK(run.exit_code == kExitOk);
  CHECK(workloadIds(run) == expected);
}

TEST_CASE("describe JSON follows the contract", "[cli][describe]") {
  const CapturedRun run = describe({"-n", "foo", "httpbin", "-o", "json"});
  const auto workload = nlohmann::json::parse(run.out)["workloads"].at(0);
  std::vector<std::string> keys;
  for (const auto& item : workload.items()) keys.push_back(item.key());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"ambient", "decidedBy", "kind", "mode", "name",
                                         "namespace", "ports", "shadowed", "sidecar"});
  CHECK(workload["kind"] == "Deployment");
  CHECK(workload["mode"] == "STRICT");
  CHECK(workload["decidedBy"] ==
        nlohmann::json{{"namespace", "foo"}, {"name", "default"}, {"scope", "namespace"}});
  CHECK(workload["sidecar"] == true);
  CHECK(workload["ambient"] == false);
  CHECK(workload["shadowed"] == nlohmann::json::array());
  REQUIRE(workload["ports"].size() == 1);
  CHECK(workload["ports"][0]["port"] == 8000);
  CHECK(workload["ports"][0]["mode"] == "STRICT");
  CHECK(workload["ports"][0]["decidedBy"]["scope"] == "namespace");
}

TEST_CASE("describe text is an aligned table with a row per workload and per port",
          "[cli][describe]") {
  const CapturedRun run = describe({"-n", "bar"});
  CHECK(run.exit_code == kExitOk);
  CHECK(run.out ==
        "NAMESPACE  WORKLOAD            DATAPLANE  PORT  MODE        DECIDED-BY    SHADOWED\n"
        "bar        deployment/httpbin  sidecar    *     PERMISSIVE  mesh-default  -\n"
        "bar        deployment/httpbin  sidecar    8000  PERMISSIVE  mesh-default  -\n");
}

TEST_CASE("an unknown workload exits 64 and suggests close names", "[cli][describe]") {
  const CapturedRun run = describe({"-n", "foo", "htpbin"});
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.out.empty());
  CHECK(run.err ==
        "Error: workload \"htpbin\" not found in namespace foo; did you mean: httpbin?\n");
}

TEST_CASE("an unknown workload with nothing close lists the known ones", "[cli][describe]") {
  const CapturedRun run = describe({"-n", "foo", "zzzzzzzzzz"});
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find("known: curl, httpbin") != std::string::npos);
}

TEST_CASE("an unknown namespace exits 64", "[cli][describe]") {
  const CapturedRun run = describe({"-n", "fooo"});
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find("did you mean: foo") != std::string::npos);
}

}  // namespace
}  // namespace peergate::cli
