#include <utility>

#include "decode_kinds.h"

namespace peergate::validation::detail {

using Json = nlohmann::json;

bool decodeService(const Json& object, FieldReader& reader, Inputs& inputs) {
  Service service;
  service.meta = decodeObjectMeta(object, reader, /*namespaced=*/true);

  const Path root;
  const Path spec_path = root.key("spec");
  if (const Json* spec = reader.map(object, spec_path)) {
    const Path selector_path = spec_path.key("selector");
    service.selector = reader.stringMap(*spec, selector_path);

    const Path ports_path = spec_path.key("ports");
    if (const Json* ports = reader.list(*spec, ports_path)) {
      for (std::size_t i = 0; i < ports->size(); ++i) {
        const Path port_path = ports_path.index(i);
        const Json& entry = (*ports)[i];
        if (!entry.is_object()) {
          reader.expected(port_path, "a map with port and targetPort", entry);
          continue;
        }
        ServicePort port;
        const Path name_path = port_path.key("name");
        port.name = reader.text(entry, name_path).value_or("");
        const Path number_path = port_path.key("port");
        if (auto number = reader.integer(entry, number_path)) {
          port.port = *number;
        } else if (reader.value(entry, number_path) == nullptr) {
          reader.required(number_path, "every Service port needs a port number");
        }
        // targetPort is a number or the name of a container port; without it, it is `port`.
        const Path target_path = port_path.key("targetPort");
        const Json* target = reader.value(entry, target_path);
        if (target == nullptr) {
          port.target_port_number = port.port;
        } else if (target->is_number_integer()) {
          port.target_port_number = reader.integer(entry, target_path);
        } else if (target->is_string()) {
          const auto& text = target->get_ref<const std::string&>();
          const bool digits = !text.empty() && text.size() <= 9 &&
                              text.find_first_not_of("0123456789") == std::string::npos;
          if (digits) {
            port.target_port_number = std::stoll(text);
          } else {
            port.target_port_name = text;
          }
        } else {
          reader.expected(target_path, "a port number or name", *target);
        }
        service.ports.push_back(std::move(port));
      }
    }
  }

  if (reader.failed()) return false;
  inputs.services.push_back(std::move(service));
  return true;
}

}  // namespace peergate::validation::detail
