#include "peergate/validation/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

namespace peergate::validation {

// inet_pton/inet_ntop: pure conversions from the C library, no socket involved.
std::optional<std::string> canonicalIp(std::string_view text) {
  const std::string address(text);
  std::array<unsigned char, 16> bytes{};
  char buffer[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, address.c_str(), bytes.data()) == 1) {
    return std::string(inet_ntop(AF_INET, bytes.data(), buffer, sizeof buffer));
  }
  if (inet_pton(AF_INET6, address.c_str(), bytes.data()) != 1) return std::nullopt;
  constexpr std::array<unsigned char, 12> kMappedPrefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin())) {
    return std::string(inet_ntop(AF_INET, bytes.data() + 12, buffer, sizeof buffer));
  }
  return std::string(inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer));
}

}  // namespace peergate::validation
