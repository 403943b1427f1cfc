// `peergate iptables` as a command, without touching the network namespace: --dry-run, usage
// and input errors. The real installation is tests/e2e/interception_test.sh.
#include <catch2/catch.hpp>

#include "peergate/cli/exit_codes.h"
#include "peergate/cli/iptables_rules.h"
#include "peergate/cli/run.h"

namespace peergate::cli {
namespace {

using Catch::Contains;

TEST_CASE("a dry run prints one labelled script per family", "[iptables]") {
  const CapturedRun run = runCaptured({"iptables", "--dry-run", "--ipv6", "on",
                                       "--exclude-outbound-cidrs", "10.0.0.0/8,fd00::1/64"});
  REQUIRE(run.exit_code == kExitOk);
  InterceptionOptions options;
  options.exclude_outbound_cidrs = {"10.0.0.0/8", "fd00::/64"};
  CHECK(run.out == "# IPv4: iptables-restore --noflush\n" + restoreScript(options, IpFamily::V4) +
                       "# IPv6: ip6tables-restore --noflush\n" +
                       restoreScript(options, IpFamily::V6));
}

TEST_CASE("a dry run says when auto installs the IPv6 rules, and off prints IPv4 only",
          "[iptables]") {
  const CapturedRun automatic = runCaptured({"iptables", "--dry-run"});
  REQUIRE(automatic.exit_code == kExitOk);
  CHECK_THAT(automatic.out,
             Contains("# IPv6: ip6tables-restore --noflush (--ipv6 auto: when the network "
                      "namespace has IPv6)\n*nat\n"));
  const CapturedRun off = runCaptured({"iptables", "--dry-run", "--ipv6", "off"});
  REQUIRE(off.exit_code == kExitOk);
  CHECK(off.out == "# IPv4: iptables-restore --noflush\n" + restoreScript({}, IpFamily::V4));
}

TEST_CASE("a cleanup dry run lists the commands of both families", "[iptables]") {
  const CapturedRun run = runCaptured({"iptables", "--cleanup", "--dry-run"});
  REQUIRE(run.exit_code == kExitOk);
  std::string expected;
  for (const IpFamily family : {IpFamily::V4, IpFamily::V6}) {
    for (const auto& command : cleanupCommands(family)) {
      for (std::size_t i = 0; i < command.size(); ++i) expected += (i > 0 ? " " : "") + command[i];
      expected += "\n";
    }
  }
  CHECK(run.out == expected);
  CHECK_THAT(run.out, Contains("ip6tables -t nat -D PREROUTING -p tcp -j PEERGATE_INBOUND\n"));
}

TEST_CASE("a bad --ipv6 is a usage error; a bad IPv6 CIDR is exit 65 naming it", "[iptables]") {
  const CapturedRun usage = runCaptured({"iptables", "--dry-run", "--ipv6", "maybe"});
  CHECK(usage.exit_code == kExitUsage);
  CHECK_THAT(usage.err, Contains("--ipv6"));
  const CapturedRun bad =
      runCaptured({"iptables", "--dry-run", "--exclude-outbound-cidrs", "10.0.0.0/8,fd00::/129"});
  CHECK(bad.exit_code == kExitBadInput);
  CHECK(bad.out.empty());
  CHECK(bad.err ==
        "peergate iptables: \"fd00::/129\" is not an IPv6 CIDR such as fd00::/8 or "
        "fd00::1/128\n");
}

}  // namespace
}  // namespace peergate::cli
