#include "peergate/cli/input_files.h"

#include <fstream>
#include <random>
#include <sstream>

#include <catch2/catch.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / ("peergate-cli-" + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  fs::path write(const std::string& relative, const std::string& text) const {
    const fs::path file = path_ / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string namespaceYaml(const std::string& name) {
  return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n";
}

std::vector<std::string> namespaceNames(const validation::Inputs& inputs) {
  std::vector<std::string> names;
  for (const validation::Namespace& ns : inputs.namespaces) names.push_back(ns.meta.name);
  return names;
}

TEST_CASE("a directory is read recursively, manifests only, in sorted path order", "[cli][input]") {
  TempDir dir;
  dir.write("b.yaml", namespaceYaml("b"));
  dir.write("a/z/c.yml", namespaceYaml("c"));
  dir.write("a/d.json", R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"d"}})");
  dir.write("e.YAML", namespaceYaml("e"));
  dir.write("notes.txt", namespaceYaml("not-read"));
  dir.write("kustomize/README.md", "# not a manifest\n");

  std::istringstream no_stdin;
  const LoadedInputs loaded = loadInputs({dir.path().string()}, no_stdin);
  REQUIRE(loaded.ok());
  CHECK(namespaceNames(loaded.inputs) == std::vector<std::string>{"d", "c", "b", "e"});
  CHECK(loaded.files == 4);
  CHECK(loaded.objects == 4);
  CHECK(loaded.inputs.namespaces[0].meta.source.file == (dir.path() / "a/d.json").generic_string());
}

TEST_CASE("FILE, DIR and stdin arguments load in the order given", "[cli][input]") {
  TempDir dir;
  const fs::path file = dir.write("one/first.yaml", namespaceYaml("first"));
  dir.write("two/second.yaml", namespaceYaml("second"));
  std::istringstream in(namespaceYaml("from-stdin"));
  const LoadedInputs loaded = loadInputs({"-", (dir.path() / "two").string(), file.string()}, in);
  REQUIRE(loaded.ok());
  CHECK(namespaceNames(loaded.inputs) == std::vector<std::string>{"from-stdin", "second", "first"});
  CHECK(loaded.inputs.namespaces[0].meta.source.file == "-");
}

TEST_CASE("a missing path is an error that names it", "[cli][input]") {
  std::istringstream no_stdin;
  const LoadedInputs loaded = loadInputs({"/nonexistent/peergate/pa.yaml"}, no_stdin);
  REQUIRE(loaded.errors.size() == 1);
  CHECK(loaded.errors[0].code == "io.read");
  CHECK(loaded.errors[0].file == "/nonexistent/peergate/pa.yaml");
  CHECK(loaded.errors[0].describe().find("/nonexistent/peergate/pa.yaml") != std::string::npos);
}

TEST_CASE("standard input can be read only once", "[cli][input]") {
  std::istringstream in(namespaceYaml("once"));
  const LoadedInputs loaded = loadInputs({"-", "-"}, in);
  CHECK(namespaceNames(loaded.inputs) == std::vector<std::string>{"once"});
  REQUIRE(loaded.errors.size() == 1);
  CHECK(loaded.errors[0].file == "-");
}

TEST_CASE("an empty directory is a warning, not an error", "[cli][input]") {
  TempDir dir;
  dir.write("README.md", "nothing here\n");
  std::istringstream no_stdin;
  const LoadedInputs loaded = loadInputs({dir.path().string()}, no_stdin);
  CHECK(loaded.ok());
  REQUIRE(loaded.warnings.size() == 1);
  CHECK(loaded.warnings[0].find(dir.path().generic_string()) != std::string::npos);
}

TEST_CASE("check exits 65 on a missing file and prints its path", "[cli][input]") {
  const CapturedRun run = runCaptured({"check", "-f", "/nonexistent/peergate/pa.yaml"});
  CHECK(run.exit_code == kExitBadInput);
  CHECK(run.out.empty());
  CHECK(run.err.find("/nonexistent/peergate/pa.yaml") != std::string::npos);
}

TEST_CASE("check exits 65 on undecodable input and analyzes nothing", "[cli][input]") {
  TempDir dir;
  dir.write("good.yaml", namespaceYaml("good"));
  const fs::path bad = dir.write("bad.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: [\n");
  const CapturedRun run = runCaptured({"check", "-f", dir.path().string()});
  CHECK(run.exit_code == kExitBadInput);
  CHECK(run.out.empty());
  CHECK(run.err.find(bad.generic_string()) != std::string::npos);
  CHECK(run.err.find("nothing was analyzed") != std::string::npos);
}

TEST_CASE("check exits 65 on an unreadable observations file", "[cli][input]") {
  const CapturedRun run = runCaptured(
      {"check", "-f", "-", "--observations", "/nonexistent/observations.json"}, namespaceYaml("a"));
  CHECK(run.exit_code == kExitBadInput);
  CHECK(run.err.find("/nonexistent/observations.json") != std::string::npos);
}

TEST_CASE("check exits 65 on a malformed observations file", "[cli][input]") {
  TempDir dir;
  const fs::path observations = dir.write("observations.json", R"({"kind": "Observations", )");
  const CapturedRun run = runCaptured({"check", "-f", "-", "--observations", observations.string()},
                                      namespaceYaml("a"));
  CHECK(run.exit_code == kExitBadInput);
  CHECK(run.err.find(observations.generic_string()) != std::string::npos);
}

}  // namespace
}  // namespace peergate::cli
