#pragma once

// The traffic interception `peergate iptables` installs in a pod's network namespace (the
// init container's job, as istio-iptables does for Istio): inbound TCP is redirected to the
// proxy's inbound port, outbound TCP to its outbound port, and the proxy's own traffic (its uid)
// is exempt so it can reach the app and the network without looping.

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
  std::vector<std::string> exclude_outbound_cidrs;  // IPv4 a.b.c.d/n
};

// Chains peergate owns in the nat table; cleanup removes exactly these and the jumps to them.
inline constexpr std::string_view kInboundChain = "PEERGATE_INBOUND";
inline constexpr std::string_view kInRedirectChain = "PEERGATE_IN_REDIRECT";
inline constexpr std::string_view kOutputChain = "PEERGATE_OUTPUT";
inline constexpr std::string_view kRedirectChain = "PEERGATE_REDIRECT";

// "15020,15021" -> ports; "" -> none. Errors name the bad entry (code "iptables.port").
validation::Result<std::vector<int>> parsePortList(std::string_view text);
// "*" -> nullopt (all ports), otherwise as parsePortList.
validation::Result<std::optional<std::vector<int>>> parseIncludePorts(std::string_view text);
// "10.0.0.0/8,169.254.169.254/32" -> normalised CIDRs; IPv6 is refused with a clear message.
validation::Result<std::vector<std::string>> parseCidrList(std::string_view text);

// Checks the ports against each other (the proxy's ports cannot be excluded from itself...).
std::optional<validation::Error> checkOptions(const InterceptionOptions& options);

// The nat table rules in iptables-restore format, meant for `iptables-restore --noflush`
// after cleanupCommands() (declaring a chain flushes it; the jumps are added once).
std::string restoreScript(const InterceptionOptions& options);

// iptables argument lists that remove the jumps and delete the chains; each may fail when the
// rule is already gone, which is fine (cleanup is idempotent).
std::vector<std::vector<std::string>> cleanupCommands();

}  // namespace peergate::cli
