#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "session.h"

namespace peergate::proxy {
namespace {

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; those headers clash
// with <netinet/in.h>, so the two option numbers are spelled out.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

}  // namespace

asio::ip::address withoutV4Mapping(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// Under `iptables -t nat -j REDIRECT` the accepted socket's local address is the proxy's port;
// conntrack still knows where the client meant to go, and this asks it. An IPv4 connection on
// a dual-stack socket (local address ::ffff:a.b.c.d) is IPv4 to conntrack (ip6tables never saw
// it): it is asked at the SOL_IP level, which the kernel answers for such a socket too.
std::optional<asio::ip::tcp::endpoint> originalDestination(asio::ip::tcp::socket& socket) {
  const int fd = socket.native_handle();
  std::error_code ec;
  const asio::ip::tcp::endpoint local = socket.local_endpoint(ec);
  if (ec) return std::nullopt;
  const bool v6 = withoutV4Mapping(local.address()).is_v6();
  // The kernel writes a sockaddr_in (sockaddr_in6) but leaves the length argument as passed, so
  // the size comes from the family, never from what getsockopt reports back.
  sockaddr_storage address{};
  const socklen_t size = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  socklen_t length = size;
  const int level = v6 ? SOL_IPV6 : SOL_IP;
  const int option = v6 ? kIp6tSoOriginalDst : kSoOriginalDst;
  if (::getsockopt(fd, level, option, &address, &length) != 0) return std::nullopt;
  if (address.ss_family != (v6 ? AF_INET6 : AF_INET)) return std::nullopt;
  asio::ip::tcp::endpoint endpoint;
  std::memcpy(endpoint.data(), &address, size);
  endpoint.resize(size);
  return endpoint;
}

}  // namespace peergate::proxy
