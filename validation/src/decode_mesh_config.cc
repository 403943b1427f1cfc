#include <utility>

#include "decode_document.h"
#include "decode_kinds.h"

namespace peergate::validation::detail {

using Json = nlohmann::json;

bool decodeMeshConfigMap(const Json& object, FieldReader& reader, Inputs& inputs) {
  decodeObjectMeta(object, reader, /*namespaced=*/true);
  MeshConfig mesh;
  mesh.from_input = true;

  const Path root;
  const Path data_path = root.key("data");
  const Path mesh_path = data_path.key("mesh");
  const Json* data = reader.map(object, data_path, "a map of string to string");
  const Json* mesh_text = data != nullptr ? reader.value(*data, mesh_path) : nullptr;
  if (mesh_text != nullptr && !mesh_text->is_string()) {
    reader.expected(mesh_path, "a string holding the mesh config as YAML", *mesh_text);
    mesh_text = nullptr;
  }
  if (mesh_text != nullptr) {
    const SingleDocument document = readSingleDocument(mesh_text->get_ref<const std::string&>());
    for (const Error& error : document.errors) {
      // Lines inside the embedded text are not lines of the file: point at data.mesh.
      const Path inner_path = mesh_path.key(error.path);
      reader.report(
          error.code, error.path.empty() ? mesh_path : inner_path,
          error.message +
              (error.line > 0 ? " (line " + std::to_string(error.line) + " of data.mesh)" : ""));
    }
    const Json& config = document.root;
    if (!config.is_null() && !config.is_object()) {
      reader.expected(mesh_path, "a mesh config (a YAML map)", config);
    } else if (config.is_object()) {
      const Path root_namespace_path = mesh_path.key("rootNamespace");
      if (auto value = reader.text(config, root_namespace_path); value && !value->empty()) {
        mesh.root_namespace = std::move(*value);
      }
      const Path trust_domain_path = mesh_path.key("trustDomain");
      if (auto value = reader.text(config, trust_domain_path); value && !value->empty()) {
        mesh.trust_domain = std::move(*value);
      }
      const Path rewrite_path = mesh_path.key("rewriteAppHTTPProbe");
      if (auto value = reader.boolean(config, rewrite_path)) mesh.rewrite_app_http_probes = *value;
      const Path by_default_path = mesh_path.key("enableNamespacesByDefault");
      if (auto value = reader.boolean(config, by_default_path)) {
        mesh.enable_namespaces_by_default = *value;
      }
      const Path auto_inject_path = mesh_path.key("autoInject");
      if (auto value = reader.text(config, auto_inject_path); value && !value->empty()) {
        mesh.auto_inject_policy = std::move(*value);
      }
    }
  }

  if (reader.failed()) return false;
  inputs.mesh = std::move(mesh);
  return true;
}

}  // namespace peergate::validation::detail
