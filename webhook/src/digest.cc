#include "digest.h"

#include <openssl/sha.h>

namespace peergate::webhook {

std::string sha256Hex(std::string_view text, std::size_t hex_digits) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 0xF]);
  }
  return hex.substr(0, hex_digits);
}

}  // namespace peergate::webhook
