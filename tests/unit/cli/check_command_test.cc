#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

constexpr const char* kInjectedFoo = R"(apiVersion: v1
kind: Namespace
metadata:
  name: foo
  labels:
    istio-injection: enabled
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpbin
  namespace: foo
spec:
  selector:
    matchLabels: {app: httpbin}
  template:
    metadata:
      labels: {app: httpbin}
    spec:
      containers:
        - name: httpbin
          image: docker.io/mccutchen/go-httpbin:v2.15.0
          ports: [{containerPort: 8000}]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: httpbin
  namespace: foo
)";

// Error: PG0101.
constexpr const char* kMeshDisable = R"(---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {mode: DISABLE}
)";

// Warning: PG0107, the selector matches no workload.
constexpr const char* kOrphanSelector = R"(---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: orphan
  namespace: foo
spec:
  selector:
    matchLabels: {app: nothing-has-this-label}
  mtls: {mode: PERMISSIVE}
)";

CapturedRun check(const std::string& manifests, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"check", "-f", "-"};
  args.insert(args.end(), extra.begin(), extra.end());
  return runCaptured(args, manifests);
}

TEST_CASE("a clean run prints the check mark line and exits 0", "[cli][check]") {
  const CapturedRun run = check(kInjectedFoo);
  CHECK(run.exit_code == kExitOk);
  CHECK(run.out == "\u2714 No validation issues found when analyzing 2 objects.\n");
  CHECK(run.err == "Skipped 1 object of kinds peergate does not analyze: ServiceAccount (1).\n");
}

TEST_CASE("exit codes follow the failure threshold", "[cli][check]") {
  using Args = std::vector<std::string>;
  const std::string clean = kInjectedFoo;
  const std::string warning = clean + kOrphanSelector;
  const std::string error = clean + kMeshDisable;
  const auto [input, args, expected] = GENERATE_COPY(table<std::string, Args, int>({
      {clean, Args{}, kExitOk},
      {clean, Args{"--failure-threshold", "Info"}, kExitOk},
      {clean, Args{"--fail-on-warning"}, kExitOk},
      {warning, Args{}, kExitOk},
      {warning, Args{"--failure-threshold", "Error"}, kExitOk},
      {warning, Args{"--failure-threshold", "Warning"}, kExitFindings},
      {warning, Args{"--failure-threshold", "Info"}, kExitFindings},
      {warning, Args{"--fail-on-warning"}, kExitFindings},
      {warning, Args{"--fail-on-warning", "--failure-threshold", "Error"}, kExitFindings},
      {error, Args{}, kExitFindings},
      {error, Args{"--failure-threshold", "Warning"}, kExitFindings},
      {error, Args{"--failure-threshold", "Info"}, kExitFindings},
  }));
  CAPTURE(input, args);
  CHECK(check(input, args).exit_code == expected);
}

TEST_CASE("text output is istioctl's, with where and how to fix", "[cli][check]") {
  const CapturedRun run = check(std::string(kInjectedFoo) + kMeshDisable);
  CHECK(run.out.rfind("Error [PG0101] (PeerAuthentication default.istio-system) ", 0) == 0);
  CHECK(run.out.find("\n    at -:") != std::string::npos);
  CHECK(run.out.find("\n    hint: ") != std::string::npos);
}

TEST_CASE("JSON output carries every finding field and a summary", "[cli][check]") {
  const CapturedRun run = check(std::string(kInjectedFoo) + kMeshDisable, {"-o", "json"});
  CHECK(run.exit_code == kExitFindings);
  CHECK(run.err.empty());
  const auto report = nlohmann::json::parse(run.out);
  REQUIRE(report["findings"].size() >= 1);
  const auto& finding = report["findings"][0];
  for (const char* key : {"code", "severity", "kind", "namespace", "name", "path", "message",
                          "hint", "file", "line"}) {
    CAPTURE(key);
    CHECK(finding.contains(key));
  }
  CHECK(finding["code"] == "PG0101");
  CHECK(finding["severity"] == "Error");
  CHECK(finding["file"] == "-");
  CHECK(finding["line"].is_number_integer());
  const auto& summary = report["summary"];
  CHECK(summary["errors"] == 1);
  CHECK(summary["warnings"] == 0);
  CHECK(summary["info"] == 0);
  CHECK(summary["objects"] == 3);
  CHECK(summary["skipped"] == nlohmann::json{{"ServiceAccount", 1}});
}

TEST_CASE("YAML output has the same structure as JSON", "[cli][check]") {
  const CapturedRun run = check(std::string(kInjectedFoo) + kOrphanSelector, {"-o", "yaml"});
  CHECK(run.exit_code == kExitOk);
  const YAML::Node report = YAML::Load(run.out);
  REQUIRE(report["findings"].IsSequence());
  CHECK(report["findings"][0]["code"].as<std::string>() == "PG0107");
  CHECK(report["findings"][0]["severity"].as<std::string>() == "Warning");
  CHECK(report["summary"]["warnings"].as<int>() == 1);
  CHECK(report["summary"]["skipped"]["ServiceAccount"].as<int>() == 1);
}

TEST_CASE("a clean JSON run has an empty findings list", "[cli][check]") {
  const CapturedRun run = check(kInjectedFoo, {"-o", "json"});
  const auto report = nlohmann::json::parse(run.out);
  CHECK(report["findings"] == nlohmann::json::array());
  CHECK(report["summary"]["objects"] == 2);
}

}  // namespace
}  // namespace peergate::cli
