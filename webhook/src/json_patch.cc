#include "json_patch.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace peergate::webhook {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Encodes 1..3 bytes as 4 characters, padding with '=' for the missing ones.
void encodeGroup(const std::array<std::uint8_t, 3>& in, std::size_t count, std::string& out) {
  const std::uint32_t bits = (std::uint32_t{in[0]} << 16) | (std::uint32_t{in[1]} << 8) | in[2];
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t index = (bits >> (18 - 6 * i)) & 0x3Fu;
    out += i <= count ? kBase64Alphabet[index] : '=';
  }
}

}  // namespace

std::string escapePointerToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string jsonPointer(std::initializer_list<std::string_view> tokens) {
  std::string out;
  for (std::string_view token : tokens) out += "/" + escapePointerToken(token);
  return out;
}

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::array<std::uint8_t, 3> group{};
    const std::size_t count = std::min<std::size_t>(3, bytes.size() - i);
    for (std::size_t j = 0; j < count; ++j) group[j] = static_cast<std::uint8_t>(bytes[i + j]);
    encodeGroup(group, count, out);
  }
  return out;
}

void JsonPatch::add(std::string path, nlohmann::json value) {
  ops_.push_back({{"op", "add"}, {"path", std::move(path)}, {"value", std::move(value)}});
}

void JsonPatch::replace(std::string path, nlohmann::json value) {
  ops_.push_back({{"op", "replace"}, {"path", std::move(path)}, {"value", std::move(value)}});
}

void JsonPatch::remove(std::string path) {
  ops_.push_back({{"op", "remove"}, {"path", std::move(path)}});
}

std::string JsonPatch::toJson() const {
  return ops_.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonPatch::toBase64() const { return base64Encode(toJson()); }

}  // namespace peergate::webhook
