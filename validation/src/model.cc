#include "peergate/validation/model.h"

#include <array>
#include <string>

#include "peergate/validation/result.h"

namespace peergate::validation {
namespace {

// Indexed by the enum's value, which is also the proto integer of Istio's MutualTLS.Mode.
constexpr std::array<std::string_view, 4> kModeNames = {"UNSET", "DISABLE", "PERMISSIVE", "STRICT"};

}  // namespace

std::string_view toString(Mode mode) {
  const auto index = static_cast<std::size_t>(mode);
  return index < kModeNames.size() ? kModeNames[index] : std::string_view{"UNSET"};
}

std::optional<Mode> parseMode(std::string_view text) {
  for (std::size_t i = 0; i < kModeNames.size(); ++i) {
    const bool proto_integer = text.size() == 1 && text[0] == static_cast<char>('0' + i);
    if (text == kModeNames[i] || proto_integer) return static_cast<Mode>(i);
  }
  return std::nullopt;
}

std::string Error::describe() const {
  // Appends only: GCC 12 at -O3 warns (-Wrestrict) on `"literal" + std::to_string(...)`.
  std::string out;
  if (!file.empty()) {
    out.append(file);
    if (line > 0) out.append(":").append(std::to_string(line));
    out.append(": ");
  } else if (line > 0) {
    out.append("line ").append(std::to_string(line)).append(": ");
  }
  if (document >= 0) out.append("document ").append(std::to_string(document)).append(": ");
  if (!path.empty()) out.append(path).append(": ");
  out.append(message);
  return out;
}

}  // namespace peergate::validation
