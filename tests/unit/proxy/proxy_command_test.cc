#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

std::vector<std::string> proxyArgs(std::vector<std::string> extra) {
  std::vector<std::string> args = {"proxy", "--cluster-state", "state.yaml", "--certs", "certs"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST_CASE("peergate proxy refuses malformed flags with a usage error naming them", "[proxy]") {
  const auto [extra, message] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"--pod", "httpbin"}, "--pod: expected NAMESPACE/NAME"},
      {{"--pod", "foo/"}, "--pod: expected NAMESPACE/NAME"},
      {{"--pod", "foo/a", "--inbound-map", "15106:8000"},
       "--inbound-map: bad entry \"15106:8000\""},
      {{"--pod", "foo/a", "--outbound-map", "1=host:80"},
       "--outbound-map: bad entry \"1=host:80\""},
      {{"--pod", "foo/a", "--inbound-port", "70000"}, "--inbound-port"},
  }));
  CAPTURE(extra);
  const CapturedRun run = runCaptured(proxyArgs(extra), "");
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find(message) != std::string::npos);
}

TEST_CASE("peergate proxy requires the pod, the cluster state and the certificates", "[proxy]") {
  const CapturedRun run = runCaptured({"proxy", "--pod", "foo/a"}, "");
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find("--cluster-state") != std::string::npos);
}

TEST_CASE("peergate proxy takes the control plane or the local files, not both", "[proxy]") {
  const CapturedRun both = runCaptured(
      proxyArgs({"--pod", "foo/a", "--control-plane", "peergate.peergate-system.svc:15012"}), "");
  CHECK(both.exit_code == kExitUsage);
  CHECK(both.err.find("--control-plane replaces --cluster-state and --certs") != std::string::npos);
  const CapturedRun half = runCaptured({"proxy", "--pod", "foo/a", "--certs", "certs"}, "");
  CHECK(half.exit_code == kExitUsage);
  CHECK(half.err.find("--control-plane HOST:PORT, or --cluster-state and --certs") !=
        std::string::npos);
}

TEST_CASE("peergate proxy without a pod says where the pod comes from", "[proxy]") {
  const CapturedRun run =
      runCaptured({"proxy", "--control-plane", "127.0.0.1:1", "--control-plane-ca", "ca.pem"}, "");
  CHECK(run.exit_code == kExitUsage);
  CHECK(run.err.find("POD_NAMESPACE and POD_NAME") != std::string::npos);
}

}  // namespace
}  // namespace peergate::cli
