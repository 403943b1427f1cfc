#pragma once

// Whether the current network namespace carries IPv6, for `peergate iptables --ipv6 auto`: when
// it does, IPv6 must be intercepted too or it would bypass the proxy.

#include <filesystem>

namespace peergate::cli {

// True when <proc>/net/if_inet6 exists (the kernel has IPv6) and either lists an address or
// <proc>/sys/net/ipv6/conf/all/disable_ipv6 is not "1". An unreadable disable_ipv6 counts as
// enabled: in doubt, intercept.
bool ipv6Enabled(const std::filesystem::path& proc = "/proc");

}  // namespace peergate::cli
