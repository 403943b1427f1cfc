#include "peergate/cli/iptables_rules.h"

#include <optional>
#include <tuple>

#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

using Catch::Contains;

TEST_CASE("the default interception redirects all inbound and outbound TCP, uid 1337 exempt",
          "[iptables]") {
  InterceptionOptions options;
  options.exclude_inbound_ports = {15020};
  CHECK(restoreScript(options) ==
        "*nat\n"
        ":PEERGATE_INBOUND - [0:0]\n"
        ":PEERGATE_IN_REDIRECT - [0:0]\n"
        ":PEERGATE_OUTPUT - [0:0]\n"
        ":PEERGATE_REDIRECT - [0:0]\n"
        "-A PREROUTING -p tcp -j PEERGATE_INBOUND\n"
        "-A OUTPUT -p tcp -j PEERGATE_OUTPUT\n"
        "-A PEERGATE_INBOUND -p tcp --dport 15020 -j RETURN\n"
        "-A PEERGATE_INBOUND -p tcp -j PEERGATE_IN_REDIRECT\n"
        "-A PEERGATE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
        "-A PEERGATE_OUTPUT ! -d 127.0.0.1/32 -o lo -m owner --uid-owner 1337 -j "
        "PEERGATE_IN_REDIRECT\n"
        "-A PEERGATE_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
        "-A PEERGATE_OUTPUT -j PEERGATE_REDIRECT\n"
        "-A PEERGATE_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
        "COMMIT\n");
}

TEST_CASE("an include list redirects only those inbound ports, minus the excluded", "[iptables]") {
  InterceptionOptions options;
  options.include_inbound_ports = std::vector<int>{8080, 9090, 15020};
  options.exclude_inbound_ports = {15020};
  const std::string script = restoreScript(options);
  CHECK_THAT(script, Contains("-A PEERGATE_INBOUND -p tcp --dport 8080 -j PEERGATE_IN_REDIRECT\n"
                              "-A PEERGATE_INBOUND -p tcp --dport 9090 -j PEERGATE_IN_REDIRECT\n"
                              "-A PEERGATE_IN_REDIRECT"));
  CHECK_THAT(script, !Contains("--dport 15020"));
  CHECK_THAT(script, !Contains("-A PEERGATE_INBOUND -p tcp -j"));
}

TEST_CASE("outbound excludes, a gid and other proxy ports appear in the rules", "[iptables]") {
  InterceptionOptions options;
  options.proxy_uid = 2000;
  options.proxy_gid = 2001;
  options.inbound_port = 16006;
  options.outbound_port = 16001;
  options.exclude_outbound_ports = {5432};
  options.exclude_outbound_cidrs = {"169.254.169.254/32"};
  const std::string script = restoreScript(options);
  CHECK_THAT(script, Contains("-A PEERGATE_OUTPUT -p tcp --dport 5432 -j RETURN\n"));
  CHECK_THAT(script, Contains("-A PEERGATE_OUTPUT -m owner --uid-owner 2000 -j RETURN\n"));
  CHECK_THAT(script, Contains("-A PEERGATE_OUTPUT -m owner --gid-owner 2001 -j RETURN\n"));
  CHECK_THAT(script, Contains("-A PEERGATE_OUTPUT -d 169.254.169.254/32 -j RETURN\n"
                              "-A PEERGATE_OUTPUT -j PEERGATE_REDIRECT\n"));
  CHECK_THAT(script, Contains("REDIRECT --to-ports 16006\n"));
  CHECK_THAT(script, Contains("REDIRECT --to-ports 16001\n"));
}

TEST_CASE("port lists accept blanks and refuse what is not a port", "[iptables]") {
  const auto ports = parsePortList(" 15020, 15021,,8080 ");
  REQUIRE(ports.ok());
  CHECK(ports.value() == std::vector<int>{15020, 15021, 8080});
  CHECK(parsePortList("").value().empty());
  for (const char* bad : {"80,http", "0", "65536", "-1", "80x"}) {
    const auto result = parsePortList(bad);
    INFO(bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "iptables.port");
    CHECK_THAT(result.error().message, Contains("is not a port"));
  }
  CHECK_FALSE(parseIncludePorts("*").value().has_value());
  CHECK(parseIncludePorts("80").value() == std::vector<int>{80});
}

TEST_CASE("IPv4 CIDRs are normalised; garbage is refused naming the entry", "[iptables]") {
  const auto cidrs = parseCidrList("10.1.2.3/8, 169.254.169.254, 0.0.0.0/0");
  REQUIRE(cidrs.ok());
  CHECK(cidrs.value() == std::vector<std::string>{"10.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0"});
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/x"}) {
    INFO(bad);
    const auto result = parseCidrList(std::string("10.0.0.0/8,") + bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "iptables.cidr");
    CHECK(result.error().message == "\"" + std::string(bad) +
                                        "\" is not an IPv4 CIDR such as 10.0.0.0/8 or "
                                        "169.254.169.254/32");
  }
}

TEST_CASE("IPv6 CIDRs are normalised like IPv4 ones, in mixed lists too", "[iptables]") {
  const auto cidrs =
      parseCidrList("FD00:0:0::1/64, 10.1.2.3/16, fe80::1, 2001:db8:abcd:12ff::/56, ::/0, ::1");
  REQUIRE(cidrs.ok());
  CHECK(cidrs.value() == std::vector<std::string>{"fd00::/64", "10.1.0.0/16", "fe80::1/128",
                                                  "2001:db8:abcd:1200::/56", "::/0", "::1/128"});
  CHECK(familyOf("fd00::/64") == IpFamily::V6);
  CHECK(familyOf("10.1.0.0/16") == IpFamily::V4);
  for (const char* bad : {"fd00::/129", "fd00::zz/64", "fe80::1%eth0/64", "fd00:::1/64", "fd00::/x",
                          "fd00::/-1", "1:2:3:4:5:6:7:8:9/64"}) {
    INFO(bad);
    const auto result = parseCidrList(std::string("10.0.0.0/8, fd00::/8, ") + bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "iptables.cidr");
    CHECK(result.error().message == "\"" + std::string(bad) +
                                        "\" is not an IPv6 CIDR such as fd00::/8 or "
                                        "fd00::1/128");
  }
}

TEST_CASE("the proxy's two ports must be valid and differ", "[iptables]") {
  InterceptionOptions options;
  CHECK_FALSE(checkOptions(options).has_value());
  options.outbound_port = options.inbound_port;
  REQUIRE(checkOptions(options).has_value());
  CHECK_THAT(checkOptions(options)->message, Contains("must differ"));
  options.outbound_port = 70000;
  CHECK(checkOptions(options).has_value());
}

TEST_CASE("cleanup removes the jumps before deleting the chains, in both families", "[iptables]") {
  const auto [family, tool] = GENERATE(table<IpFamily, std::string>({
      {IpFamily::V4, "iptables"},
      {IpFamily::V6, "ip6tables"},
  }));
  CAPTURE(tool);
  using Command = std::vector<std::string>;
  CHECK(ruleTool(family) == tool);
  CHECK(restoreTool(family) == tool + "-restore");
  CHECK(cleanupCommands(family) ==
        std::vector<Command>{
            {tool, "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "-j", "PEERGATE_INBOUND"},
            {tool, "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-j", "PEERGATE_OUTPUT"},
            {tool, "-t", "nat", "-F", "PEERGATE_INBOUND"},
            {tool, "-t", "nat", "-F", "PEERGATE_IN_REDIRECT"},
            {tool, "-t", "nat", "-F", "PEERGATE_OUTPUT"},
            {tool, "-t", "nat", "-F", "PEERGATE_REDIRECT"},
            {tool, "-t", "nat", "-X", "PEERGATE_INBOUND"},
            {tool, "-t", "nat", "-X", "PEERGATE_IN_REDIRECT"},
            {tool, "-t", "nat", "-X", "PEERGATE_OUTPUT"},
            {tool, "-t", "nat", "-X", "PEERGATE_REDIRECT"},
        });
}

TEST_CASE("IPv6 gets the same interception, with ::1 for loopback and only the IPv6 CIDRs",
          "[iptables]") {
  InterceptionOptions options;
  options.proxy_gid = 1337;
  options.exclude_inbound_ports = {15020};
  options.exclude_outbound_ports = {5432};
  options.exclude_outbound_cidrs = {"169.254.169.254/32", "fd00:ec2::/64", "10.0.0.0/8"};
  CHECK(restoreScript(options, IpFamily::V6) ==
        "*nat\n"
        ":PEERGATE_INBOUND - [0:0]\n"
        ":PEERGATE_IN_REDIRECT - [0:0]\n"
        ":PEERGATE_OUTPUT - [0:0]\n"
        ":PEERGATE_REDIRECT - [0:0]\n"
        "-A PREROUTING -p tcp -j PEERGATE_INBOUND\n"
        "-A OUTPUT -p tcp -j PEERGATE_OUTPUT\n"
        "-A PEERGATE_INBOUND -p tcp --dport 15020 -j RETURN\n"
        "-A PEERGATE_INBOUND -p tcp -j PEERGATE_IN_REDIRECT\n"
        "-A PEERGATE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006\n"
        "-A PEERGATE_OUTPUT -p tcp --dport 5432 -j RETURN\n"
        "-A PEERGATE_OUTPUT ! -d ::1/128 -o lo -m owner --uid-owner 1337 -j "
        "PEERGATE_IN_REDIRECT\n"
        "-A PEERGATE_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT -m owner --uid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT ! -d ::1/128 -o lo -m owner --gid-owner 1337 -j "
        "PEERGATE_IN_REDIRECT\n"
        "-A PEERGATE_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT -m owner --gid-owner 1337 -j RETURN\n"
        "-A PEERGATE_OUTPUT -d ::1/128 -j RETURN\n"
        "-A PEERGATE_OUTPUT -d fd00:ec2::/64 -j RETURN\n"
        "-A PEERGATE_OUTPUT -j PEERGATE_REDIRECT\n"
        "-A PEERGATE_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n"
        "COMMIT\n");
  // The IPv4 script keeps its own CIDRs and loopback, and none of IPv6's.
  const std::string v4 = restoreScript(options, IpFamily::V4);
  CHECK_THAT(v4, Contains("-A PEERGATE_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
                          "-A PEERGATE_OUTPUT -d 169.254.169.254/32 -j RETURN\n"
                          "-A PEERGATE_OUTPUT -d 10.0.0.0/8 -j RETURN\n"
                          "-A PEERGATE_OUTPUT -j PEERGATE_REDIRECT\n"));
  CHECK_THAT(v4, !Contains("::"));
  CHECK(v4 == restoreScript(options));
}

TEST_CASE("the IPv6 mode is auto, on or off", "[iptables]") {
  CHECK(parseIpv6Mode("auto").value() == Ipv6Mode::Auto);
  CHECK(parseIpv6Mode("on").value() == Ipv6Mode::On);
  CHECK(parseIpv6Mode("off").value() == Ipv6Mode::Off);
  for (const char* bad : {"", "yes", "AUTO", "true"}) {
    INFO(bad);
    const auto result = parseIpv6Mode(bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == "iptables.ipv6");
    CHECK_THAT(result.error().message, Contains("auto, on or off"));
  }
}

TEST_CASE("IPv6 is intercepted when asked or present, and never silently skipped", "[iptables]") {
  using Row = std::tuple<Ipv6Mode, bool, bool, std::optional<bool>>;
  // mode, IPv6 enabled here, ip6tables-restore found -> install IPv6 rules (nullopt: refuse)
  const auto [mode, enabled, found, install] =
      GENERATE(table<Ipv6Mode, bool, bool, std::optional<bool>>({
          Row{Ipv6Mode::Off, true, false, false},
          Row{Ipv6Mode::Off, true, true, false},
          Row{Ipv6Mode::Auto, false, false, false},
          Row{Ipv6Mode::Auto, false, true, false},
          Row{Ipv6Mode::Auto, true, true, true},
          Row{Ipv6Mode::Auto, true, false, std::nullopt},
          Row{Ipv6Mode::On, false, true, true},
          Row{Ipv6Mode::On, true, true, true},
          Row{Ipv6Mode::On, true, false, std::nullopt},
      }));
  CAPTURE(static_cast<int>(mode), enabled, found);
  const auto decided = decideIpv6(mode, enabled, found);
  if (install) {
    REQUIRE(decided.ok());
    CHECK(decided.value() == *install);
  } else {
    REQUIRE_FALSE(decided.ok());
    CHECK(decided.error().code == "iptables.ipv6");
    CHECK_THAT(decided.error().message, Contains("ip6tables-restore is not installed"));
    CHECK_THAT(decided.error().message, Contains("install ip6tables"));
    if (mode == Ipv6Mode::Auto) {
      CHECK_THAT(decided.error().message, Contains("IPv6 traffic would bypass the proxy"));
      CHECK_THAT(decided.error().message, Contains("--ipv6 off"));
    }
  }
}

}  // namespace
}  // namespace peergate::cli
