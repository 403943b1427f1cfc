#include "peergate/cli/iptables_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>

namespace peergate::cli {
namespace {

using validation::Error;

constexpr std::string_view loopbackOf(IpFamily family) {
  return family == IpFamily::V4 ? "127.0.0.1/32" : "::1/128";
}

Error badList(const std::string& code, std::string message) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  return error;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Comma-separated, blanks around entries ignored, empty entries skipped.
std::vector<std::string_view> entries(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const std::size_t comma = std::min(text.find(','), text.size());
    const std::string_view entry = trimmed(text.substr(0, comma));
    if (!entry.empty()) out.push_back(entry);
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  return out;
}

std::optional<int> portNumber(std::string_view text) {
  int port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

// "a.b.c.d/n" or "x:y::z/n" with the host bits cleared (a bare address is /32 or /128), or
// nullopt.
std::optional<std::string> normalisedCidr(std::string_view text, IpFamily family) {
  const int max_bits = family == IpFamily::V4 ? 32 : 128;
  const std::size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  int bits = max_bits;
  if (slash != std::string_view::npos) {
    const std::string_view length = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), bits);
    if (ec != std::errc() || end != length.data() + length.size() || bits < 0 || bits > max_bits) {
      return std::nullopt;
    }
  }
  const int af = family == IpFamily::V4 ? AF_INET : AF_INET6;
  std::array<unsigned char, 16> bytes{};  // network order, as inet_pton writes them
  if (inet_pton(af, address.c_str(), bytes.data()) != 1) return std::nullopt;
  for (int i = 0; i < max_bits / 8; ++i) {
    const int kept = std::clamp(bits - 8 * i, 0, 8);
    bytes[static_cast<std::size_t>(i)] &= static_cast<unsigned char>(0xff00 >> kept);
  }
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(af, bytes.data(), buffer, sizeof buffer);
  return std::string(buffer) + "/" + std::to_string(bits);
}

void appendRule(std::string& out, std::string_view chain, const std::string& rule) {
  out.append("-A ").append(chain).append(" ").append(rule).append("\n");
}

void inboundRules(const InterceptionOptions& options, std::string& out) {
  const std::set<int> excluded(options.exclude_inbound_ports.begin(),
                               options.exclude_inbound_ports.end());
  const std::string redirect = "-j " + std::string(kInRedirectChain);
  if (options.include_inbound_ports) {
    for (const int port : *options.include_inbound_ports) {
      if (excluded.count(port) == 0) {
        appendRule(out, kInboundChain, "-p tcp --dport " + std::to_string(port) + " " + redirect);
      }
    }
  } else {
    for (const int port : excluded) {
      appendRule(out, kInboundChain, "-p tcp --dport " + std::to_string(port) + " -j RETURN");
    }
    appendRule(out, kInboundChain, "-p tcp " + redirect);
  }
  appendRule(out, kInRedirectChain,
             "-p tcp -j REDIRECT --to-ports " + std::to_string(options.inbound_port));
}

// `match` is "--uid-owner 1337" or "--gid-owner 1337".
void ownerRules(const std::string& match, IpFamily family, std::string& out) {
  // The proxy reaching its own pod IP over lo: an app calling itself through a Service; the
  // inbound side must see it so the pod's own policy applies.
  appendRule(out, kOutputChain,
             "! -d " + std::string(loopbackOf(family)) + " -o lo -m owner " + match + " -j " +
                 std::string(kInRedirectChain));
  // Anyone else on lo talks to itself: not intercepted.
  appendRule(out, kOutputChain, "-o lo -m owner ! " + match + " -j RETURN");
  appendRule(out, kOutputChain, "-m owner " + match + " -j RETURN");
}

void outboundRules(const InterceptionOptions& options, IpFamily family, std::string& out) {
  for (const int port : options.exclude_outbound_ports) {
    appendRule(out, kOutputChain, "-p tcp --dport " + std::to_string(port) + " -j RETURN");
  }
  ownerRules("--uid-owner " + std::to_string(options.proxy_uid), family, out);
  if (options.proxy_gid) {
    ownerRules("--gid-owner " + std::to_string(*options.proxy_gid), family, out);
  }
  appendRule(out, kOutputChain, "-d " + std::string(loopbackOf(family)) + " -j RETURN");
  for (const std::string& cidr : options.exclude_outbound_cidrs) {
    if (familyOf(cidr) == family) appendRule(out, kOutputChain, "-d " + cidr + " -j RETURN");
  }
  appendRule(out, kOutputChain, "-j " + std::string(kRedirectChain));
  appendRule(out, kRedirectChain,
             "-p tcp -j REDIRECT --to-ports " + std::to_string(options.outbound_port));
}

}  // namespace

validation::Result<std::vector<int>> parsePortList(std::string_view text) {
  std::vector<int> ports;
  for (const std::string_view entry : entries(text)) {
    const std::optional<int> port = portNumber(entry);
    if (!port) {
      return badList("iptables.port", "\"" + std::string(entry) +
                                          "\" is not a port: use numbers 1-65535 separated by "
                                          "commas, e.g. 15020,15021");
    }
    ports.push_back(*port);
  }
  return ports;
}

validation::Result<std::optional<std::vector<int>>> parseIncludePorts(std::string_view text) {
  if (trimmed(text) == "*") return std::optional<std::vector<int>>{};
  validation::Result<std::vector<int>> ports = parsePortList(text);
  if (!ports) return ports.error();
  return std::optional<std::vector<int>>(std::move(ports).value());
}

validation::Result<std::vector<std::string>> parseCidrList(std::string_view text) {
  std::vector<std::string> cidrs;
  for (const std::string_view entry : entries(text)) {
    const IpFamily family = familyOf(entry);
    std::optional<std::string> cidr = normalisedCidr(entry, family);
    if (!cidr) {
      return badList("iptables.cidr",
                     "\"" + std::string(entry) +
                         (family == IpFamily::V4 ? "\" is not an IPv4 CIDR such as 10.0.0.0/8 or "
                                                   "169.254.169.254/32"
                                                 : "\" is not an IPv6 CIDR such as fd00::/8 or "
                                                   "fd00::1/128"));
    }
    cidrs.push_back(std::move(*cidr));
  }
  return cidrs;
}

IpFamily familyOf(std::string_view cidr) {
  return cidr.find(':') == std::string_view::npos ? IpFamily::V4 : IpFamily::V6;
}

validation::Result<Ipv6Mode> parseIpv6Mode(std::string_view text) {
  if (text == "auto") return Ipv6Mode::Auto;
  if (text == "on") return Ipv6Mode::On;
  if (text == "off") return Ipv6Mode::Off;
  return badList("iptables.ipv6", "--ipv6 is auto, on or off, not \"" + std::string(text) + "\"");
}

validation::Result<bool> decideIpv6(Ipv6Mode mode, bool ipv6_enabled, bool restore_tool_found) {
  if (mode == Ipv6Mode::Off) return false;
  if (mode == Ipv6Mode::Auto && !ipv6_enabled) return false;
  if (restore_tool_found) return true;
  if (mode == Ipv6Mode::On) {
    return badList("iptables.ipv6",
                   "--ipv6 on, but ip6tables-restore is not installed: install ip6tables (in "
                   "Debian the iptables package) in the init container's image");
  }
  return badList("iptables.ipv6",
                 "this network namespace has IPv6 but ip6tables-restore is not installed, so "
                 "IPv6 traffic would bypass the proxy: install ip6tables (in Debian the iptables "
                 "package) in the init container's image, or disable IPv6 in the pod and pass "
                 "--ipv6 off");
}

std::optional<validation::Error> checkOptions(const InterceptionOptions& options) {
  for (const int port : {options.inbound_port, options.outbound_port}) {
    if (port < 1 || port > 65535) {
      return badList("iptables.port",
                     "the proxy's ports must be 1-65535, not " + std::to_string(port));
    }
  }
  if (options.inbound_port == options.outbound_port) {
    return badList("iptables.port",
                   "--inbound-port and --outbound-port must differ: the proxy tells inbound from "
                   "outbound connections by the port they arrive on");
  }
  if (options.proxy_uid < 0 || (options.proxy_gid && *options.proxy_gid < 0)) {
    return badList("iptables.owner", "--proxy-uid and --proxy-gid must not be negative");
  }
  return std::nullopt;
}

std::string restoreScript(const InterceptionOptions& options, IpFamily family) {
  std::string out = "*nat\n";
  for (const std::string_view chain :
       {kInboundChain, kInRedirectChain, kOutputChain, kRedirectChain}) {
    out.append(":").append(chain).append(" - [0:0]\n");
  }
  appendRule(out, "PREROUTING", "-p tcp -j " + std::string(kInboundChain));
  appendRule(out, "OUTPUT", "-p tcp -j " + std::string(kOutputChain));
  inboundRules(options, out);
  outboundRules(options, family, out);
  out += "COMMIT\n";
  return out;
}

std::string_view restoreTool(IpFamily family) {
  return family == IpFamily::V4 ? "iptables-restore" : "ip6tables-restore";
}

std::string_view ruleTool(IpFamily family) {
  return family == IpFamily::V4 ? "iptables" : "ip6tables";
}

std::vector<std::vector<std::string>> cleanupCommands(IpFamily family) {
  const std::string tool(ruleTool(family));
  std::vector<std::vector<std::string>> commands = {
      {tool, "-t", "nat", "-D", "PREROUTING", "-p", "tcp", "-j", std::string(kInboundChain)},
      {tool, "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-j", std::string(kOutputChain)}};
  for (const std::string_view chain :
       {kInboundChain, kInRedirectChain, kOutputChain, kRedirectChain}) {
    commands.push_back({tool, "-t", "nat", "-F", std::string(chain)});
  }
  for (const std::string_view chain :
       {kInboundChain, kInRedirectChain, kOutputChain, kRedirectChain}) {
    commands.push_back({tool, "-t", "nat", "-X", std::string(chain)});
  }
  return commands;
}

}  // namespace peergate::cli
