#include <utility>

#include "decode_kinds.h"

namespace peergate::validation::detail {

using Json = nlohmann::json;

bool decodeDestinationRule(const Json& object, FieldReader& reader, Inputs& inputs) {
  DestinationRule rule;
  rule.meta = decodeObjectMeta(object, reader, /*namespaced=*/true);

  const Path root;
  const Path spec_path = root.key("spec");
  if (const Json* spec = reader.map(object, spec_path)) {
    const Path host_path = spec_path.key("host");
    rule.host = reader.text(*spec, host_path).value_or("");

    const Path export_path = spec_path.key("exportTo");
    if (const Json* export_to = reader.list(*spec, export_path)) {
      for (std::size_t i = 0; i < export_to->size(); ++i) {
        const Path entry_path = export_path.index(i);
        if (auto text = FieldReader::scalarText((*export_to)[i])) {
          rule.export_to.push_back(std::move(*text));
        } else {
          reader.expected(entry_path, "a namespace name or \".\" or \"*\"", (*export_to)[i]);
        }
      }
    }

    const Path policy_path = spec_path.key("trafficPolicy");
    if (const Json* policy = reader.map(*spec, policy_path)) {
      const Path tls_path = policy_path.key("tls");
      if (const Json* tls = reader.map(*policy, tls_path)) {
        const Path mode_path = tls_path.key("mode");
        rule.tls_mode = reader.text(*tls, mode_path).value_or("");
      }
      const Path settings_path = policy_path.key("portLevelSettings");
      if (const Json* settings = reader.list(*policy, settings_path)) {
        for (std::size_t i = 0; i < settings->size(); ++i) {
          const Path setting_path = settings_path.index(i);
          const Json& setting = (*settings)[i];
          if (!setting.is_object()) {
            reader.expected(setting_path, "a map with port and tls", setting);
            continue;
          }
          const Path setting_tls_path = setting_path.key("tls");
          const Json* setting_tls = reader.map(setting, setting_tls_path);
          const Path port_path = setting_path.key("port");
          const Json* port = reader.map(setting, port_path, "a map like {number: 8080}");
          if (setting_tls == nullptr) continue;  // other per-port settings do not matter here
          DestinationRulePortTls port_tls;
          const Path number_path = port_path.key("number");
          if (auto number = port != nullptr ? reader.integer(*port, number_path) : std::nullopt) {
            port_tls.port = *number;
          } else if (port != nullptr ? reader.value(*port, number_path) == nullptr
                                     : reader.value(setting, port_path) == nullptr) {
            reader.required(number_path, "a port-level TLS setting needs port.number");
          }
          const Path setting_mode_path = setting_tls_path.key("mode");
          port_tls.tls_mode = reader.text(*setting_tls, setting_mode_path).value_or("");
          rule.port_tls.push_back(std::move(port_tls));
        }
      }
    }
  }

  if (reader.failed()) return false;
  inputs.destination_rules.push_back(std::move(rule));
  return true;
}

}  // namespace peergate::validation::detail
