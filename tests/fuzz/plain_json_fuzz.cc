// The admission port's fast JSON reader against nlohmann's parser, byte for byte: whatever text
// the fast reader accepts, nlohmann must accept too and read as the same document (same values,
// same number kinds), so a review reads the same whichever of the two took it. Text the fast
// reader refuses is nlohmann's alone.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../../webhook/src/plain_json.h"

namespace {

constexpr std::size_t kMaxDepth = 16;

bool sameDocument(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      const auto other = b.find(it.key());
      if (other == b.end() || !sameDocument(it.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!sameDocument(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<nlohmann::json> plain = peergate::webhook::parsePlainJson(text, kMaxDepth);
  if (!plain) return 0;
  const nlohmann::json general = nlohmann::json::parse(text, nullptr, false);
  if (general.is_discarded() || !sameDocument(*plain, general)) std::abort();
  return 0;
}
