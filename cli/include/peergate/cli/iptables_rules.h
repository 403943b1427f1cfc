#pragma once

// The traffic interception `peergate iptables` installs in a pod's network namespace (the
// init container's job, as istio-iptables does for Istio): inbound TCP is redirected to the
// proxy's inbound port, outbound TCP to its outbound port, and the proxy's own traffic (its uid)
// is exempt so it can reach the app and the network without looping. IPv4 and IPv6 get the same
// rules (iptables-restore and ip6tables-restore), loopback being 127.0.0.1/32 or ::1/128.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/result.h"

namespace peergate::cli {

struct InterceptionOptions {
  int proxy_uid = 1337;
  std::optional<int> proxy_gid;  // also exempt traffic of this gid
  int inbound_port = 15006;
  int outbound_port = 15001;
  // Ports whose inbound traffic goes straight to the app (admin, health, user excludes).
  std::vector<int> exclude_inbound_ports;
  // Only these inbound ports are redirected; nullopt = every port ("*").
  std::optional<std::vector<int>> include_inbound_ports;
  std::vector<int> exclude_outbound_ports;
  // Normalised CIDRs of both families (parseCidrList); each goes to its own family's rules.
  std::vector<std::string> exclude_outbound_cidrs;
};

enum class IpFamily { V4, V6 };

// `--ipv6`: Auto installs the IPv6 rules when the network namespace has IPv6 (ipv6Enabled).
enum class Ipv6Mode { Auto, On, Off };

// Chains peergate owns in the nat table; cleanup removes exactly these and the jumps to them.
inline constexpr std::string_view kInboundChain = "PEERGATE_INBOUND";
inline constexpr std::string_view kInRedirectChain = "PEERGATE_IN_REDIRECT";
inline constexpr std::string_view kOutputChain = "PEERGATE_OUTPUT";
inline constexpr std::string_view kRedirectChain = "PEERGATE_REDIRECT";

// "15020,15021" -> ports; "" -> none. Errors name the bad entry (code "iptables.port").
validation::Result<std::vector<int>> parsePortList(std::string_view text);
// "*" -> nullopt (all ports), otherwise as parsePortList.
validation::Result<std::optional<std::vector<int>>> parseIncludePorts(std::string_view text);
// "10.0.0.0/8,fd00::1/64" -> normalised CIDRs ("10.0.0.0/8", "fd00::/64"): host bits cleared,
// a bare address gets /32 or /128. Errors name the bad entry (code "iptables.cidr").
validation::Result<std::vector<std::string>> parseCidrList(std::string_view text);
// The family of a CIDR parseCidrList returned.
IpFamily familyOf(std::string_view cidr);
// "auto" | "on" | "off" (code "iptables.ipv6" otherwise).
validation::Result<Ipv6Mode> parseIpv6Mode(std::string_view text);

// Whether to install the IPv6 rules, given what the network namespace has. An error (code
// "iptables.ipv6") when IPv6 cannot be intercepted but would have to be: --ipv6 on without
// ip6tables-restore, or auto with IPv6 enabled and no ip6tables-restore (never a silent bypass).
validation::Result<bool> decideIpv6(Ipv6Mode mode, bool ipv6_enabled, bool restore_tool_found);

// Checks the ports against each other (the proxy's ports cannot be excluded from itself...).
std::optional<validation::Error> checkOptions(const InterceptionOptions& options);

// The nat table rules of one family in iptables-restore format, meant for
// `iptables-restore --noflush` (`ip6tables-restore`) after cleanupCommands() (declaring a chain
// flushes it; the jumps are added once). Only the CIDRs of that family are excluded.
std::string restoreScript(const InterceptionOptions& options, IpFamily family = IpFamily::V4);

// "iptables-restore" | "ip6tables-restore", and "iptables" | "ip6tables".
std::string_view restoreTool(IpFamily family);
std::string_view ruleTool(IpFamily family);

// The commands (tool first, ruleTool(family)) that remove the jumps and delete the chains; each
// may fail when the rule is already gone, which is fine (cleanup is idempotent).
std::vector<std::vector<std::string>> cleanupCommands(IpFamily family = IpFamily::V4);

}  // namespace peergate::cli
