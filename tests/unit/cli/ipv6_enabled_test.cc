#include "peergate/cli/ipv6_enabled.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "../../support/proxy_harness.h"

namespace peergate::cli {
namespace {

namespace fs = std::filesystem;

// A fake /proc: if_inet6 (nullopt: absent) and conf/all/disable_ipv6 (nullopt: absent).
void writeProc(const fs::path& proc, const std::optional<std::string>& if_inet6,
               const std::optional<std::string>& disable_ipv6) {
  fs::create_directories(proc / "net");
  fs::create_directories(proc / "sys/net/ipv6/conf/all");
  if (if_inet6) std::ofstream(proc / "net/if_inet6") << *if_inet6;
  if (disable_ipv6) std::ofstream(proc / "sys/net/ipv6/conf/all/disable_ipv6") << *disable_ipv6;
}

TEST_CASE("IPv6 counts as enabled unless the kernel lacks it or it is disabled with no address",
          "[iptables]") {
  const std::string lo = "00000000000000000000000000000001 01 80 10 80       lo\n";
  using Row = std::tuple<std::optional<std::string>, std::optional<std::string>, bool>;
  const auto [if_inet6, disable_ipv6, enabled] =
      GENERATE_COPY(table<std::optional<std::string>, std::optional<std::string>, bool>({
          Row{std::nullopt, std::nullopt, false},  // no IPv6 in the kernel
          Row{std::nullopt, "0\n", false}, Row{lo, "0\n", true},
          Row{lo, "1\n", true},                                // an interface still has an address
          Row{"", "0\n", true},                                // enabled, no address yet
          Row{"", "1\n", false}, Row{"", std::nullopt, true},  // unreadable: in doubt, intercept
      }));
  CAPTURE(if_inet6, disable_ipv6);
  testing::TempDir proc("peergate-proc");
  writeProc(proc.path(), if_inet6, disable_ipv6);
  CHECK(ipv6Enabled(proc.path()) == enabled);
}

}  // namespace
}  // namespace peergate::cli
