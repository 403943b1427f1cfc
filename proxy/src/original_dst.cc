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

// Under `iptables -t nat -j REDIRECT` the accepted socket's local address is the proxy's port;
// conntrack still knows where the client meant to go, and this asks it.
std::optional<asio::ip::tcp::endpoint> originalDestination(asio::ip::tcp::socket& socket) {
  const int fd = socket.native_handle();
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  std::error_code ec;
  const asio::ip::tcp::endpoint local = socket.local_endpoint(ec);
  if (ec) return std::nullopt;
  const bool v6 = local.address().is_v6();
  const int level = v6 ? SOL_IPV6 : SOL_IP;
  const int option = v6 ? kIp6tSoOriginalDst : kSoOriginalDst;
  if (::getsockopt(fd, level, option, &address, &length) != 0) return std::nullopt;
  asio::ip::tcp::endpoint endpoint;
  if (length > endpoint.capacity()) return std::nullopt;
  std::memcpy(endpoint.data(), &address, length);
  endpoint.resize(length);
  return endpoint;
}

}  // namespace peergate::proxy
