#include <utility>

#include "decode_kinds.h"

namespace peergate::validation::detail {

using Json = nlohmann::json;

ObjectMeta decodeObjectMeta(const Json& object, FieldReader& reader, bool namespaced) {
  ObjectMeta meta;
  const DecodeContext& context = reader.context();
  meta.source = {std::string(context.file), context.document, context.line};

  const Path root;
  const Path metadata_path = root.key("metadata");
  const Json* metadata = reader.map(object, metadata_path);
  if (metadata == nullptr) {
    if (reader.value(object, metadata_path) == nullptr) {
      reader.required(metadata_path.key("name"), "every object needs metadata.name");
    }
    return meta;
  }

  const Path name_path = metadata_path.key("name");
  if (reader.value(*metadata, name_path) == nullptr) {
    reader.required(name_path, "every object needs metadata.name");
  } else if (auto name = reader.text(*metadata, name_path)) {
    if (name->empty()) {
      reader.report("schema.required", name_path, "is empty: every object needs metadata.name");
    }
    meta.name = std::move(*name);
  }

  const Path namespace_path = metadata_path.key("namespace");
  if (auto namespace_name = reader.text(*metadata, namespace_path)) {
    meta.namespace_name = std::move(*namespace_name);
  }
  if (namespaced && meta.namespace_name.empty()) meta.namespace_name = "default";

  const Path labels_path = metadata_path.key("labels");
  if (auto labels = reader.stringMap(*metadata, labels_path)) meta.labels = std::move(*labels);
  const Path annotations_path = metadata_path.key("annotations");
  if (auto annotations = reader.stringMap(*metadata, annotations_path)) {
    meta.annotations = std::move(*annotations);
  }
  const Path created_path = metadata_path.key("creationTimestamp");
  if (auto created = reader.text(*metadata, created_path)) {
    meta.creation_timestamp = std::move(*created);
  }
  const Path uid_path = metadata_path.key("uid");
  if (auto uid = reader.text(*metadata, uid_path)) meta.uid = std::move(*uid);

  const Path owners_path = metadata_path.key("ownerReferences");
  if (const Json* owners = reader.list(*metadata, owners_path)) {
    for (std::size_t i = 0; i < owners->size(); ++i) {
      const Path owner_path = owners_path.index(i);
      const Json& owner = (*owners)[i];
      if (!owner.is_object()) {
        reader.expected(owner_path, "a map with kind and name", owner);
        continue;
      }
      ObjectMeta::OwnerReference reference;
      const Path kind_path = owner_path.key("kind");
      if (auto kind = reader.text(owner, kind_path)) reference.kind = std::move(*kind);
      const Path owner_name_path = owner_path.key("name");
      if (auto name = reader.text(owner, owner_name_path)) reference.name = std::move(*name);
      meta.owners.push_back(std::move(reference));
    }
  }
  return meta;
}

}  // namespace peergate::validation::detail
