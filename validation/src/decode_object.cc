#include "decode_object.h"

#include <array>
#include <string>

#include "decode_kinds.h"

namespace peergate::validation::detail {
namespace {

using Json = nlohmann::json;

enum class Decoder { PeerAuthentication, DestinationRule, Namespace, Service, ConfigMap, Workload };

struct KnownKind {
  std::string_view kind;
  std::string_view group;         // "" is the core group (apiVersion: v1)
  std::string_view legacy_group;  // an older group that served the same kind, or ""
  Decoder decoder;
};

// apiVersion is checked loosely, by group only: every version of a known group is read.
constexpr std::array kKnownKinds = {
    KnownKind{"PeerAuthentication", "security.istio.io", "", Decoder::PeerAuthentication},
    KnownKind{"DestinationRule", "networking.istio.io", "", Decoder::DestinationRule},
    KnownKind{"Namespace", "", "", Decoder::Namespace},
    KnownKind{"Service", "", "", Decoder::Service},
    KnownKind{"ConfigMap", "", "", Decoder::ConfigMap},
    KnownKind{"Pod", "", "", Decoder::Workload},
    KnownKind{"Deployment", "apps", "extensions", Decoder::Workload},
    KnownKind{"StatefulSet", "apps", "", Decoder::Workload},
    KnownKind{"DaemonSet", "apps", "extensions", Decoder::Workload},
    KnownKind{"ReplicaSet", "apps", "extensions", Decoder::Workload},
    KnownKind{"Job", "batch", "", Decoder::Workload},
    KnownKind{"CronJob", "batch", "", Decoder::Workload},
};

std::string_view groupOf(std::string_view api_version) {
  const auto slash = api_version.find('/');
  return slash == std::string_view::npos ? std::string_view{} : api_version.substr(0, slash);
}

const KnownKind* findKind(std::string_view kind, std::string_view api_version) {
  for (const KnownKind& known : kKnownKinds) {
    if (known.kind != kind) continue;
    if (api_version.empty()) return &known;  // items of typed Lists may omit it
    const std::string_view group = groupOf(api_version);
    if (group == known.group || (!known.legacy_group.empty() && group == known.legacy_group)) {
      return &known;
    }
    return nullptr;
  }
  return nullptr;
}

// Only the mesh config ConfigMaps are read; the others are counted like unknown kinds.
bool isMeshConfigMap(const Json& object) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return false;
  const auto name = metadata->find("name");
  return name != metadata->end() && name->is_string() &&
         (*name == "istio" || *name == "peergate-mesh");
}

int decodeListItems(const Json& list, std::string_view kind, std::string_view api_version,
                    const DecodeContext& context, FieldReader& reader, Inputs& inputs) {
  const Path root;
  const Path items_path = root.key("items");
  const Json* items = reader.list(list, items_path);
  if (items == nullptr) return 0;
  int decoded = 0;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const std::string item_path = "items[" + std::to_string(i) + "]";
    DecodeContext item_context = context;
    item_context.document = static_cast<int>(i);
    item_context.path_prefix = context.path_prefix + item_path + ".";
    item_context.lines_prefix = context.lines_prefix + item_path + ".";
    if (context.lines != nullptr) {
      item_context.line = context.lines->lineOf(context.lines_prefix + item_path);
    }
    item_context.default_kind = itemKindOf(kind);
    item_context.default_api_version = api_version;
    decoded += decodeObject((*items)[i], item_context, inputs);
  }
  return decoded;
}

}  // namespace

bool isListKind(std::string_view kind) { return kind.ends_with("List"); }

std::string_view itemKindOf(std::string_view list_kind) {
  if (!isListKind(list_kind)) return {};
  return list_kind.substr(0, list_kind.size() - 4);
}

int decodeObject(const Json& object, const DecodeContext& context, Inputs& inputs) {
  FieldReader reader(context);
  const Path root;
  if (!object.is_object()) {
    reader.expected(root, "a Kubernetes object (a map with apiVersion and kind)", object);
    return 0;
  }

  const Path kind_path = root.key("kind");
  std::string kind(context.default_kind);
  if (const Json* written = reader.value(object, kind_path)) {
    if (!written->is_string()) {
      reader.expected(kind_path, "a string such as PeerAuthentication", *written);
      return 0;
    }
    kind = written->get<std::string>();
  }
  if (kind.empty()) {
    reader.required(kind_path, "every object needs a kind, e.g. kind: PeerAuthentication");
    return 0;
  }
  const Path api_version_path = root.key("apiVersion");
  std::string api_version(context.default_api_version);
  if (auto written = reader.text(object, api_version_path)) api_version = std::move(*written);
  if (reader.failed()) return 0;

  if (isListKind(kind) && (kind == "List" || object.contains("items"))) {
    return decodeListItems(object, kind, api_version, context, reader, inputs);
  }

  const KnownKind* known = findKind(kind, api_version);
  if (known == nullptr || (known->decoder == Decoder::ConfigMap && !isMeshConfigMap(object))) {
    ++inputs.skipped_kinds[kind];
    return 0;
  }
  bool decoded = false;
  switch (known->decoder) {
    case Decoder::PeerAuthentication:
      decoded = decodePeerAuthentication(object, api_version, reader, inputs);
      break;
    case Decoder::DestinationRule:
      decoded = decodeDestinationRule(object, reader, inputs);
      break;
    case Decoder::Namespace:
      decoded = decodeNamespace(object, reader, inputs);
      break;
    case Decoder::Service:
      decoded = decodeService(object, reader, inputs);
      break;
    case Decoder::ConfigMap:
      decoded = decodeMeshConfigMap(object, reader, inputs);
      break;
    case Decoder::Workload:
      decoded = decodeWorkload(object, kind, reader, inputs);
      break;
  }
  return decoded ? 1 : 0;
}

bool decodeNamespace(const Json& object, FieldReader& reader, Inputs& inputs) {
  Namespace namespace_object;
  namespace_object.meta = decodeObjectMeta(object, reader, /*namespaced=*/false);
  if (reader.failed()) return false;
  inputs.namespaces.push_back(std::move(namespace_object));
  return true;
}

}  // namespace peergate::validation::detail
