#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCurrent = R"(apiVersion: v1
kind: Namespace
metadata:
  name: foo
  labels: {istio-injection: enabled}
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
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
  creationTimestamp: "2026-01-05T10:00:00Z"
spec:
  mtls: {mode: PERMISSIVE}
)";

constexpr const char* kFooStrict = R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  mtls: {mode: STRICT}
)";

constexpr const char* kMeshDisable = R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls: {mode: DISABLE}
)";

// The change files live in a temp dir; the current state comes through stdin.
class ChangeFiles {
 public:
  ChangeFiles() {
    std::random_device random;
    dir_ = fs::temp_directory_path() / ("peergate-plan-" + std::to_string(random()));
    fs::create_directories(dir_);
  }
  ~ChangeFiles() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  ChangeFiles(const ChangeFiles&) = delete;
  ChangeFiles& operator=(const ChangeFiles&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

 private:
  fs::path dir_;
};

CapturedRun plan(std::vector<std::string> extra) {
  std::vector<std::string> args = {"plan", "-f", "-"};
  args.insert(args.end(), extra.begin(), extra.end());
  return runCaptured(args, kCurrent);
}

TEST_CASE("plan --apply replaces the same object and shows the mode change", "[cli][plan]") {
  ChangeFiles files;
  const CapturedRun run = plan({"--apply", files.write("strict.yaml", kFooStrict), "-o", "json"});
  CHECK(run.exit_code == kExitOk);
  const auto report = nlohmann::json::parse(run.out);
  REQUIRE(report["changes"].size() >= 1);
  const auto& change = report["changes"][0];
  CHECK(change["namespace"] == "foo");
  CHECK(change["name"] == "httpbin");
  CHECK(change["kind"] == "Deployment");
  CHECK(change["before"] == "PERMISSIVE");
  CHECK(change["after"] == "STRICT");
  CHECK(change["decidedAfter"] ==
        nlohmann::json{{"namespace", "foo"}, {"name", "default"}, {"scope", "namespace"}});
  CHECK(report["refused"] == false);
  CHECK(report["threshold"] == "Error");
}

TEST_CASE("plan text shows the change table and the verdict", "[cli][plan]") {
  ChangeFiles files;
  const CapturedRun run = plan({"--apply", files.write("strict.yaml", kFooStrict)});
  CHECK(run.exit_code == kExitOk);
  CHECK(
      run.out.rfind("NAMESPACE  WORKLOAD            PORT  BEFORE      \u2192  AFTER   DECIDED-BY\n"
                    "foo        deployment/httpbin  *     PERMISSIVE  \u2192  STRICT  namespace "
                    "foo/default\n",
                    0) == 0);
  CHECK(run.out.find("\u2714 Allowed") != std::string::npos);
}

TEST_CASE("a change that introduces an error is refused with exit 79", "[cli][plan]") {
  ChangeFiles files;
  const CapturedRun run =
      plan({"--apply", files.write("disable.yaml", kMeshDisable), "-o", "json"});
  CHECK(run.exit_code == kExitFindings);
  const auto report = nlohmann::json::parse(run.out);
  CHECK(report["refused"] == true);
  bool mesh_disable = false;
  for (const auto& finding : report["introduced"]) mesh_disable |= finding["code"] == "PG0101";
  CHECK(mesh_disable);
}

TEST_CASE("plan --delete removes an object from the after state", "[cli][plan]") {
  ChangeFiles files;
  const CapturedRun run = plan({"--apply", files.write("strict.yaml", kFooStrict), "--delete",
                                "Deployment/foo/httpbin", "-o", "json"});
  CHECK(run.exit_code == kExitOk);
  CHECK(nlohmann::json::parse(run.out)["changes"] == nlohmann::json::array());
}

TEST_CASE("deleting the namespace policy changes nothing when it was PERMISSIVE", "[cli][plan]") {
  const CapturedRun run = plan({"--delete", "pa/foo/default", "-o", "json"});
  CHECK(run.exit_code == kExitOk);
  CHECK(nlohmann::json::parse(run.out)["changes"] == nlohmann::json::array());
}

TEST_CASE("deleting a namespace deletes what it holds", "[cli][plan]") {
  const CapturedRun run = plan({"--delete", "Namespace/foo", "-o", "json"});
  CHECK(run.exit_code == kExitOk);
  const auto report = nlohmann::json::parse(run.out);
  CHECK(report["changes"] == nlohmann::json::array());
  CHECK(report["introduced"] == nlohmann::json::array());
}

TEST_CASE("a downgrade is a warning: refused only at the Warning threshold", "[cli][plan]") {
  ChangeFiles files;
  const std::string disable = files.write("disable.yaml", R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: foo
spec:
  mtls: {mode: DISABLE}
)");
  const CapturedRun allowed = plan({"--apply", disable, "-o", "json"});
  CHECK(allowed.exit_code == kExitOk);
  const auto report = nlohmann::json::parse(allowed.out);
  bool downgrade = false;
  for (const auto& finding : report["introduced"]) downgrade |= finding["code"] == "PG0201";
  CHECK(downgrade);
  CHECK(plan({"--apply", disable, "--fail-on-warning"}).exit_code == kExitFindings);
  CHECK(plan({"--apply", disable, "--failure-threshold", "Warning"}).exit_code == kExitFindings);
}

TEST_CASE("plan usage errors exit 64", "[cli][plan]") {
  using Args = std::vector<std::string>;
  const auto [args, message] = GENERATE(table<Args, std::string>({
      {Args{}, "nothing to plan"},
      {Args{"--delete", "PeerAuthentication/foo/defualt"},
       "did you mean PeerAuthentication/foo/default?"},
      {Args{"--delete", "PeerAuthentication/default"}, "expected KIND/NAMESPACE/NAME"},
      {Args{"--delete", "Widget/foo/default"}, "expected KIND/NAMESPACE/NAME"},
      {Args{"--apply", "-"}, "standard input (-) can be read only once"},
  }));
  CAPTURE(args);
  const CapturedRun run = plan(args);
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find(message) != std::string::npos);
  CHECK(run.out.empty());
}

TEST_CASE("an unreadable change file exits 65", "[cli][plan]") {
  const CapturedRun run = plan({"--apply", "/nonexistent/change.yaml"});
  CHECK(run.exit_code == kExitBadInput);
  CHECK(run.err.find("/nonexistent/change.yaml") != std::string::npos);
}

}  // namespace
}  // namespace peergate::cli
