// The real binary, as a user or a CI script runs it: one process per command.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

namespace {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
};

// Runs `PEERGATE_BINARY <args>` through the shell, stderr discarded, stdout captured.
ProcessResult runBinary(const std::string& args) {
  const std::string command = std::string("'") + PEERGATE_BINARY + "' " + args + " 2>/dev/null";
  ProcessResult result;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    result.out += buffer.data();
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST_CASE("the binary prints its version", "[golden][binary]") {
  const ProcessResult result = runBinary("--version");
  CHECK(result.exit_code == 0);
  CHECK(result.out == std::string("peergate ") + PEERGATE_VERSION + "\n");
}

TEST_CASE("the binary's check --help exits 0", "[golden][binary]") {
  const ProcessResult result = runBinary("check --help");
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("--failure-threshold") != std::string::npos);
}

TEST_CASE("the binary exits 64 on a usage error", "[golden][binary]") {
  CHECK(runBinary("check --no-such-flag").exit_code == 64);
  CHECK(runBinary("").exit_code == 64);
}

TEST_CASE("the binary exits 65 on a missing file", "[golden][binary]") {
  CHECK(runBinary("check -f /nonexistent/peergate/missing.yaml").exit_code == 65);
}

TEST_CASE("the binary checks an example from stdin", "[golden][binary]") {
  const ProcessResult result = runBinary(std::string("check -f - < '") + PEERGATE_SOURCE_DIR +
                                         "/manifests/examples/secure-apps/secure-apps.yaml'");
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("No validation issues found") != std::string::npos);
}

}  // namespace
