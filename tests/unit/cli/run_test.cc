#include "peergate/cli/run.h"

#include <catch2/catch.hpp>

#include "peergate/cli/exit_codes.h"

namespace peergate::cli {
namespace {

TEST_CASE("the --version flag prints the program and its version", "[cli][run]") {
  const CapturedRun run = runCaptured({"--version"});
  CHECK(run.exit_code == kExitOk);
  CHECK(run.out == std::string("peergate ") + PEERGATE_VERSION + "\n");
}

TEST_CASE("every subcommand has --help and exits 0", "[cli][run]") {
  const std::string command = GENERATE("check", "describe", "plan");
  CAPTURE(command);
  const CapturedRun run = runCaptured({command, "--help"});
  CHECK(run.exit_code == kExitOk);
  CHECK(run.out.find("--filename") != std::string::npos);
  CHECK(run.err.empty());
}

TEST_CASE("the root help lists the subcommands and the exit codes", "[cli][run]") {
  const CapturedRun run = runCaptured({"--help"});
  CHECK(run.exit_code == kExitOk);
  for (const char* command : {"check", "describe", "plan"}) {
    CHECK(run.out.find(command) != std::string::npos);
  }
  CHECK(run.out.find("79") != std::string::npos);
}

TEST_CASE("usage errors exit 64", "[cli][run]") {
  using Args = std::vector<std::string>;
  const Args args = GENERATE(
      Args{}, Args{"frobnicate"}, Args{"check"}, Args{"check", "-f", "x.yaml", "--bogus"},
      Args{"check", "-f", "x.yaml", "-o", "xml"},
      Args{"check", "-f", "x.yaml", "--failure-threshold", "Fatal"},
      Args{"describe", "-f", "x.yaml", "-o", "yaml"}, Args{"describe", "-f", "x.yaml", "a", "b"},
      Args{"plan", "-f", "x.yaml", "-o", "yaml"});
  CAPTURE(args);
  const CapturedRun run = runCaptured(args);
  CHECK(run.exit_code == kExitUsage);
  CHECK_FALSE(run.err.empty());
  CHECK(run.out.empty());
}

TEST_CASE("the failure threshold is case-insensitive", "[cli][run]") {
  const std::string level = GENERATE("info", "WARNING", "error", "Warning");
  CAPTURE(level);
  const CapturedRun run = runCaptured({"check", "-f", "-", "--failure-threshold", level}, "");
  CHECK(run.exit_code == kExitOk);
}

}  // namespace
}  // namespace peergate::cli
