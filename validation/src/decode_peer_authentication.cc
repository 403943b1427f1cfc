#include <charconv>
#include <limits>
#include <utility>

#include "decode_kinds.h"

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kModeShape = "a mode (UNSET, DISABLE, PERMISSIVE or STRICT)";
constexpr std::string_view kModeMapShape = "a map like {mode: STRICT}";

// The mode as written. Istio accepts the enum names and, in JSON, the proto integers 0..3;
// anything else is kept as text with valid=false so validation can quote it (PG0001).
ModeValue readMode(const Json& parent, const Path& field, FieldReader& reader) {
  const Json* value = reader.value(parent, field);
  if (value == nullptr) return {};
  auto text = FieldReader::scalarText(*value);
  if (!text) {
    reader.expected(field, kModeShape, *value);
    return {};
  }
  ModeValue mode;
  const bool may_be_mode = value->is_string() || value->is_number_integer();
  const auto parsed = may_be_mode ? parseMode(*text) : std::nullopt;
  mode.text = std::move(*text);
  mode.mode = parsed.value_or(Mode::Unset);
  mode.valid = parsed.has_value();
  return mode;
}

// portLevelMtls keys are ports written as map keys ("8080"). Keys that are integers but do not
// fit in 64 bits saturate, so validation reports them as out of range rather than not numeric.
std::optional<int64_t> parsePortKey(std::string_view key) {
  if (key.empty()) return std::nullopt;
  const std::string_view digits = key.front() == '-' ? key.substr(1) : key;
  if (digits.empty()) return std::nullopt;
  for (const char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t port = 0;
  const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), port);
  if (error == std::errc::result_out_of_range) {
    return key.front() == '-' ? std::numeric_limits<int64_t>::min()
                              : std::numeric_limits<int64_t>::max();
  }
  if (error != std::errc() || end != key.data() + key.size()) return std::nullopt;
  return port;
}

}  // namespace

bool decodePeerAuthentication(const Json& object, std::string_view api_version, FieldReader& reader,
                              Inputs& inputs) {
  PeerAuthentication policy;
  // A policy without metadata.namespace gets "default", as `kubectl apply -f` would create it.
  policy.meta = decodeObjectMeta(object, reader, /*namespaced=*/true);
  policy.api_version = std::string(api_version);

  const Path root;
  const Path spec_path = root.key("spec");
  if (const Json* spec = reader.map(object, spec_path)) {
    const Path selector_path = spec_path.key("selector");
    if (const Json* selector = reader.map(*spec, selector_path, "a map with matchLabels")) {
      // `selector: {}` and `selector: {matchLabels: {}}` are present but select by no label.
      const Path match_labels_path = selector_path.key("matchLabels");
      policy.selector = reader.stringMap(*selector, match_labels_path).value_or(Labels{});
    }

    const Path mtls_path = spec_path.key("mtls");
    if (const Json* mtls = reader.map(*spec, mtls_path, kModeMapShape)) {
      const Path mode_path = mtls_path.key("mode");
      policy.mtls = readMode(*mtls, mode_path, reader);
    }

    const Path port_level_path = spec_path.key("portLevelMtls");
    if (const Json* port_level =
            reader.map(*spec, port_level_path, "a map of port to {mode: ...}")) {
      std::vector<PortLevelEntry> entries;
      for (const auto& [key, value] : port_level->items()) {
        PortLevelEntry entry;
        entry.key = key;
        entry.port = parsePortKey(key);
        const Path entry_path = port_level_path.key(key);
        if (value.is_object()) {
          const Path mode_path = entry_path.key("mode");
          entry.mode = readMode(value, mode_path, reader);
        } else if (!value.is_null()) {
          reader.expected(entry_path, kModeMapShape, value);
        }
        entries.push_back(std::move(entry));
      }
      policy.port_level_mtls = std::move(entries);
    }
  }

  if (reader.failed()) return false;
  inputs.peer_authentications.push_back(std::move(policy));
  return true;
}

}  // namespace peergate::validation::detail
