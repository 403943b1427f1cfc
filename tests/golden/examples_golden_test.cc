// Pins `peergate check` and `peergate describe` on every example in manifests/examples/.
// PEERGATE_UPDATE_GOLDEN=1 rewrites the files under tests/golden/testdata/ instead of
// comparing; read every rewritten file before committing it.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr const char* kExamples = "manifests/examples/";
constexpr const char* kMigration = "manifests/examples/migration-istio-mutual/";

struct Example {
  std::string golden;               // folder under tests/golden/testdata/
  std::vector<std::string> inputs;  // -f arguments, relative to the source dir
  std::string observations;         // --observations, "" for none
  int check_exit;                   // the verdict, confirmed by hand
};

std::string example(const std::string& folder) { return kExamples + folder; }
std::string step(const std::string& folder) { return kMigration + folder; }

const std::vector<Example>& examples() {
  static const std::vector<Example> kAll = {
      {"foo-bar-legacy", {example("foo-bar-legacy")}, "", kExitOk},
      {"namespace-strict-foo",
       {example("foo-bar-legacy"), example("namespace-strict-foo")},
       "",
       kExitOk},
      {"mesh-strict", {example("foo-bar-legacy"), example("mesh-strict")}, "", kExitFindings},
      {"workload-strict-httpbin",
       {example("foo-bar-legacy"), example("workload-strict-httpbin")},
       "",
       kExitOk},
      {"mesh-disable", {example("foo-bar-legacy"), example("mesh-disable")}, "", kExitFindings},
      {"secure-apps", {example("secure-apps")}, "", kExitOk},
      {"payments-retail", {example("payments-retail")}, "", kExitOk},
      {"migration-istio-mutual/step-1-permissive",
       {step("base"), step("step-1-permissive")},
       "",
       kExitOk},
      {"migration-istio-mutual/step-2-istio-mutual",
       {step("base"), step("step-1-permissive"), step("step-2-istio-mutual")},
       "",
       kExitOk},
      {"migration-istio-mutual/step-3-strict",
       {step("base"), step("step-2-istio-mutual"), step("step-3-strict")},
       "",
       kExitOk},
      {"migration-istio-mutual/step-3-observed",
       {step("base"), step("step-2-istio-mutual"), step("step-3-strict")},
       step("observations.json"),
       kExitFindings},
      {"legacy-workload-disable", {example("legacy-workload-disable")}, "", kExitOk},
  };
  return kAll;
}

// Runs with the source dir as working directory, so file paths in the output are relative
// and the goldens hold on every machine.
class InSourceDir {
 public:
  InSourceDir() : previous_(fs::current_path()) { fs::current_path(PEERGATE_SOURCE_DIR); }
  ~InSourceDir() { fs::current_path(previous_); }
  InSourceDir(const InSourceDir&) = delete;
  InSourceDir& operator=(const InSourceDir&) = delete;

 private:
  fs::path previous_;
};

bool updating() {
  const char* value = std::getenv("PEERGATE_UPDATE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

fs::path goldenPath(const std::string& folder, const std::string& file) {
  return fs::path(PEERGATE_SOURCE_DIR) / "tests/golden/testdata" / folder / file;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// One line per difference: "replace /findings/0/message: <expected> -> <actual>".
std::string readableDiff(const Json& expected, const Json& actual) {
  std::string text;
  for (const Json& op : Json::diff(expected, actual)) {
    const std::string path = op["path"].get<std::string>();
    const Json::json_pointer pointer(path);
    const std::string verb = op["op"].get<std::string>();
    text += "  " + verb + " " + path + ": ";
    if (verb != "add") text += expected.at(pointer).dump() + " -> ";
    text += verb == "remove" ? "(absent)" : op["value"].dump();
    text += "\n";
  }
  return text;
}

void compareJsonGolden(const fs::path& path, const std::string& output) {
  const Json actual = Json::parse(output);
  if (updating()) {
    // Written in output order (the contract's key order); compared order-insensitively.
    writeFile(path, nlohmann::ordered_json::parse(output).dump(2) + "\n");
    WARN("rewrote " << path.string());
    return;
  }
  INFO("golden " << path.string() << " (PEERGATE_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(fs::exists(path));
  const Json expected = Json::parse(readFile(path));
  INFO("differences, expected -> actual:\n" << readableDiff(expected, actual));
  CHECK(expected == actual);
}

void compareTextGolden(const fs::path& path, const std::string& output) {
  if (updating()) {
    writeFile(path, output);
    WARN("rewrote " << path.string());
    return;
  }
  INFO("golden " << path.string() << " (PEERGATE_UPDATE_GOLDEN=1 rewrites it)");
  REQUIRE(fs::exists(path));
  CHECK(readFile(path) == output);
}

std::vector<std::string> commandLine(const std::string& command, const Example& example,
                                     const std::string& output) {
  std::vector<std::string> args = {command};
  for (const std::string& input : example.inputs) args.insert(args.end(), {"-f", input});
  if (!example.observations.empty() && command == "check") {
    args.insert(args.end(), {"--observations", example.observations});
  }
  args.insert(args.end(), {"-o", output});
  return args;
}

CapturedRun runExample(const std::string& command, const Example& example,
                       const std::string& output) {
  const InSourceDir in_source_dir;
  return runCaptured(commandLine(command, example, output));
}

const Example& exampleNamed(const std::string& golden) {
  for (const Example& example : examples()) {
    if (example.golden == golden) return example;
  }
  FAIL("no example " << golden);
  return examples().front();
}

TEST_CASE("check -o json on every example matches its golden", "[golden]") {
  const Example example = GENERATE(from_range(examples()));
  CAPTURE(example.golden);
  const CapturedRun run = runExample("check", example, "json");
  INFO("stderr: " << run.err);
  CHECK(run.exit_code == example.check_exit);
  compareJsonGolden(goldenPath(example.golden, "check.json"), run.out);
}

TEST_CASE("describe -o json on every example matches its golden", "[golden]") {
  const Example example = GENERATE(from_range(examples()));
  CAPTURE(example.golden);
  const CapturedRun run = runExample("describe", example, "json");
  INFO("stderr: " << run.err);
  CHECK(run.exit_code == kExitOk);
  compareJsonGolden(goldenPath(example.golden, "describe.json"), run.out);
}

TEST_CASE("check text output is pinned on the examples with findings", "[golden]") {
  const std::string golden =
      GENERATE(as<std::string>{}, "mesh-strict", "mesh-disable", "legacy-workload-disable",
               "migration-istio-mutual/step-3-observed", "foo-bar-legacy");
  CAPTURE(golden);
  const CapturedRun run = runExample("check", exampleNamed(golden), "text");
  compareTextGolden(goldenPath(golden, "check.txt"), run.out);
}

TEST_CASE("describe text output is pinned", "[golden]") {
  const std::string golden =
      GENERATE(as<std::string>{}, "payments-retail", "mesh-strict", "legacy-workload-disable");
  CAPTURE(golden);
  const CapturedRun run = runExample("describe", exampleNamed(golden), "text");
  compareTextGolden(goldenPath(golden, "describe.txt"), run.out);
}

std::vector<std::string> migrationPlan(const std::string& output) {
  return {"plan",
          "-f",
          step("base"),
          "-f",
          step("step-1-permissive"),
          "-f",
          step("step-2-istio-mutual"),
          "--apply",
          step("step-3-strict"),
          "--observations",
          step("observations.json"),
          "-o",
          output};
}

TEST_CASE("plan of the migration's STRICT step is pinned", "[golden]") {
  const InSourceDir in_source_dir;
  const CapturedRun json = runCaptured(migrationPlan("json"));
  CHECK(json.exit_code == kExitFindings);
  compareJsonGolden(goldenPath("migration-istio-mutual/plan-step-3", "plan.json"), json.out);
  const CapturedRun text = runCaptured(migrationPlan("text"));
  CHECK(text.exit_code == kExitFindings);
  compareTextGolden(goldenPath("migration-istio-mutual/plan-step-3", "plan.txt"), text.out);
}

}  // namespace
}  // namespace peergate::cli
