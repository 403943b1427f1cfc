#include "peergate/cli/ipv6_enabled.h"

#include <fstream>
#include <string>

namespace peergate::cli {

bool ipv6Enabled(const std::filesystem::path& proc) {
  std::ifstream addresses(proc / "net" / "if_inet6");
  if (!addresses) return false;
  std::string line;
  if (std::getline(addresses, line) && !line.empty()) return true;
  std::ifstream disabled(proc / "sys" / "net" / "ipv6" / "conf" / "all" / "disable_ipv6");
  std::string value;
  if (!(disabled >> value)) return true;
  return value != "1";
}

}  // namespace peergate::cli
