#include "peergate/cli/iptables_rules.h"

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

TEST_CASE("CIDRs are normalised; IPv6 and garbage are refused with the reason", "[iptables]") {
  const auto cidrs = parseCidrList("10.1.2.3/8, 169.254.169.254, 0.0.0.0/0");
  REQUIRE(cidrs.ok());
  CHECK(cidrs.value() == std::vector<std::string>{"10.0.0.0/8", "169.254.169.254/32", "0.0.0.0/0"});
  const auto v6 = parseCidrList("fd00::/8");
  REQUIRE_FALSE(v6.ok());
  CHECK_THAT(v6.error().message, Contains("IPv6"));
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "example.com", "10.0.0.0/x"}) {
    INFO(bad);
    CHECK_FALSE(parseCidrList(bad).ok());
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

TEST_CASE("cleanup removes the jumps before deleting the chains", "[iptables]") {
  const auto commands = cleanupCommands();
  REQUIRE(commands.size() == 10);
  CHECK(commands[0][2] == "-D");
  CHECK(commands[1][2] == "-D");
  CHECK(commands.back()[2] == "-X");
}

}  // namespace
}  // namespace peergate::cli
