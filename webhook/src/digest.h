#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace peergate::webhook {

// Lower-case hex of SHA-256(text), cut to `hex_digits` (64 = the whole digest): cache keys that
// must not hold a secret, and content versions.
std::string sha256Hex(std::string_view text, std::size_t hex_digits = 64);

}  // namespace peergate::webhook
