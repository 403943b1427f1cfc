#pragma once

// Pod IPs as text that compares equal when the addresses do: "fd00::5" and "fd00:0::5" are one
// address, and so are "::ffff:10.0.0.5" (how a dual-stack socket spells an IPv4 peer) and
// "10.0.0.5".

#include <optional>
#include <string>
#include <string_view>

namespace peergate::validation {

// The canonical text of an IPv4 or IPv6 address: IPv6 compressed and lower case (RFC 5952), an
// IPv4-mapped IPv6 address as its IPv4 address. nullopt when `text` is not an address (a zone
// such as "fe80::1%eth0", a CIDR or a name are not).
std::optional<std::string> canonicalIp(std::string_view text);

}  // namespace peergate::validation
