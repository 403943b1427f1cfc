// What `kubectl kustomize DIR` does, for the subset manifests/ uses, so the manifests tests can
// run without kubectl: `resources` (files and directories, recursively), `patches` with inline
// JSON6902 operations and a kind/name target, `namespace` on namespaced objects (and on webhook
// and RoleBinding service references, as kustomize's namespace transformer does), and `labels`
// on metadata. Any other kustomization key, or a feature of these keys outside the subset, is an
// error: a kustomization the renderer cannot reproduce faithfully fails the tests instead of
// being rendered differently from kustomize.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace peergate::test {

struct RenderedObject {
  nlohmann::json object;
  std::string source;  // "<file>#<document index>"
};

struct Rendered {
  std::vector<RenderedObject> objects;
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

namespace kustomize_detail {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// YAML -> JSON with the types the API server would read: plain scalars that look like bools,
// integers or floats become those, quoted scalars stay strings.
inline Json toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& item : node) out.push_back(toJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& entry : node) out[entry.first.as<std::string>()] = toJson(entry.second);
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "false") return text == "true";
  if (text == "null" || text == "~") return nullptr;
  if (!text.empty() && text.find_first_not_of("-0123456789") == std::string::npos &&
      text.find('-', 1) == std::string::npos && text != "-") {
    // YAML 1.1, as kubectl reads it: a leading 0 makes an octal integer (defaultMode: 0400).
    const std::string digits = text[0] == '-' ? text.substr(1) : text;
    const int base = digits.size() > 1 && digits[0] == '0' ? 8 : 10;
    try {
      std::size_t used = 0;
      const long long value = std::stoll(text, &used, base);
      if (used == text.size()) return value;
    } catch (const std::exception&) {
    }
  }
  if (!text.empty() && text.find_first_not_of("-+.0123456789eE") == std::string::npos &&
      text.find_first_of("0123456789") != std::string::npos) {
    try {
      std::size_t used = 0;
      const double value = std::stod(text, &used);
      if (used == text.size()) return value;
    } catch (const std::exception&) {
    }
  }
  return text;
}

inline std::string readFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Kinds kustomize's namespace transformer leaves alone (its cluster-scoped list, for the kinds
// manifests/ can contain).
inline bool clusterScoped(const std::string& kind) {
  static const std::set<std::string> kKinds = {
      "Namespace",
      "ClusterRole",
      "ClusterRoleBinding",
      "CustomResourceDefinition",
      "ClusterIssuer",
      "ValidatingWebhookConfiguration",
      "MutatingWebhookConfiguration",
      "PriorityClass",
      "APIService",
  };
  return kKinds.count(kind) > 0;
}

inline std::string text(const Json& object, const Json::json_pointer& pointer) {
  return object.contains(pointer) && object.at(pointer).is_string()
             ? object.at(pointer).get<std::string>()
             : std::string();
}

inline std::string idOf(const Json& object) {
  return text(object, "/apiVersion"_json_pointer) + "/" + text(object, "/kind"_json_pointer) + " " +
         text(object, "/metadata/namespace"_json_pointer) + "/" +
         text(object, "/metadata/name"_json_pointer);
}

inline void loadResourceFile(const fs::path& file, Rendered& out) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(readFile(file));
  } catch (const YAML::Exception& e) {
    out.errors.push_back(file.string() + ": invalid YAML: " + e.what());
    return;
  }
  for (std::size_t i = 0; i < documents.size(); ++i) {
    const Json object = toJson(documents[i]);
    if (object.is_null()) continue;  // empty document
    const std::string source = file.string() + "#" + std::to_string(i);
    if (!object.is_object() || !object.contains("kind") || !object.contains("apiVersion") ||
        !object.contains("metadata")) {
      out.errors.push_back(source + ": not a Kubernetes object (apiVersion, kind, metadata)");
      continue;
    }
    out.objects.push_back({object, source});
  }
}

inline bool targetMatches(const Json& target, const Json& object) {
  const std::string api_version = text(object, "/apiVersion"_json_pointer);
  const auto slash = api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  const std::string version =
      slash == std::string::npos ? api_version : api_version.substr(slash + 1);
  auto field = [&target](const char* key) {
    return target.contains(key) ? target.at(key).get<std::string>() : std::string();
  };
  if (target.contains("group") && field("group") != group) return false;
  if (target.contains("version") && field("version") != version) return false;
  if (target.contains("kind") && field("kind") != text(object, "/kind"_json_pointer)) return false;
  if (target.contains("name") && field("name") != text(object, "/metadata/name"_json_pointer)) {
    return false;
  }
  if (target.contains("namespace") &&
      field("namespace") != text(object, "/metadata/namespace"_json_pointer)) {
    return false;
  }
  return true;
}

inline void applyPatches(const Json& patches, const fs::path& kustomization, Rendered& out) {
  if (!patches.is_array()) {
    out.errors.push_back(kustomization.string() + ": patches: expected a list");
    return;
  }
  for (std::size_t i = 0; i < patches.size(); ++i) {
    const std::string where = kustomization.string() + ": patches[" + std::to_string(i) + "]";
    const Json& entry = patches[i];
    if (!entry.is_object() || !entry.contains("target") || !entry.contains("patch") ||
        !entry.at("patch").is_string()) {
      out.errors.push_back(where + ": only `target` + inline `patch` (JSON6902) is supported");
      continue;
    }
    for (const auto& [key, value] : entry.items()) {
      if (key != "target" && key != "patch") {
        out.errors.push_back(where + ": unsupported key " + key);
      }
    }
    const Json& target = entry.at("target");
    static const std::set<std::string> kTargetKeys = {"group", "version", "kind", "name",
                                                      "namespace"};
    bool target_ok = target.is_object() && target.contains("kind") && target.contains("name");
    for (const auto& [key, value] : target.items()) {
      if (!kTargetKeys.count(key) || !value.is_string()) target_ok = false;
    }
    if (!target_ok) {
      out.errors.push_back(where +
                           ": target must name kind and name (group, version, namespace "
                           "optional; no label or annotation selectors)");
      continue;
    }
    Json operations;
    try {
      operations = toJson(YAML::Load(entry.at("patch").get<std::string>()));
    } catch (const YAML::Exception& e) {
      out.errors.push_back(where + ": invalid patch YAML: " + e.what());
      continue;
    }
    if (!operations.is_array()) {
      out.errors.push_back(where +
                           ": the patch is not a JSON6902 list of operations "
                           "(strategic merge patches are not supported)");
      continue;
    }
    int matched = 0;
    for (RenderedObject& rendered : out.objects) {
      if (!targetMatches(target, rendered.object)) continue;
      ++matched;
      try {
        rendered.object = rendered.object.patch(operations);
      } catch (const Json::exception& e) {
        out.errors.push_back(where + ": cannot apply to " + idOf(rendered.object) + ": " +
                             e.what());
      }
    }
    if (matched != 1) {
      out.errors.push_back(where + ": the target matches " + std::to_string(matched) +
                           " objects, expected exactly one");
    }
  }
}

inline void setNamespace(const std::string& ns, Rendered& out) {
  for (RenderedObject& rendered : out.objects) {
    Json& object = rendered.object;
    const std::string kind = text(object, "/kind"_json_pointer);
    if (!clusterScoped(kind)) object["metadata"]["namespace"] = ns;
    if ((kind == "ValidatingWebhookConfiguration" || kind == "MutatingWebhookConfiguration") &&
        object.contains("webhooks") && object.at("webhooks").is_array()) {
      for (Json& webhook : object["webhooks"]) {
        if (webhook.contains("/clientConfig/service"_json_pointer)) {
          webhook["clientConfig"]["service"]["namespace"] = ns;
        }
      }
    }
    if ((kind == "RoleBinding" || kind == "ClusterRoleBinding") && object.contains("subjects") &&
        object.at("subjects").is_array()) {
      for (Json& subject : object["subjects"]) {
        if (subject.value("kind", "") == "ServiceAccount" &&
            subject.value("namespace", "default") == "default") {
          subject["namespace"] = ns;
        }
      }
    }
  }
}

inline void addLabels(const Json& labels, const fs::path& kustomization, Rendered& out) {
  const std::string where = kustomization.string() + ": labels";
  if (!labels.is_array()) {
    out.errors.push_back(where + ": expected a list");
    return;
  }
  for (const Json& entry : labels) {
    if (!entry.is_object() || !entry.contains("pairs") || !entry.at("pairs").is_object() ||
        entry.value("includeSelectors", false) || entry.value("includeTemplates", false)) {
      out.errors.push_back(where + ": only `pairs` with includeSelectors/includeTemplates false");
      continue;
    }
    for (const auto& [key, value] : entry.items()) {
      if (key != "pairs" && key != "includeSelectors" && key != "includeTemplates") {
        out.errors.push_back(where + ": unsupported key " + key);
      }
    }
    for (RenderedObject& rendered : out.objects) {
      for (const auto& [key, value] : entry.at("pairs").items()) {
        rendered.object["metadata"]["labels"][key] = value;
      }
    }
  }
}

inline fs::path kustomizationFile(const fs::path& dir) {
  for (const char* name : {"kustomization.yaml", "kustomization.yml", "Kustomization"}) {
    if (fs::exists(dir / name)) return dir / name;
  }
  return {};
}

inline Rendered render(const fs::path& dir, int depth) {
  Rendered out;
  const fs::path file = kustomizationFile(dir);
  if (file.empty()) {
    out.errors.push_back(dir.string() + ": no kustomization.yaml");
    return out;
  }
  if (depth > 16) {
    out.errors.push_back(dir.string() + ": resources nest deeper than 16 (a cycle?)");
    return out;
  }
  Json kustomization;
  try {
    kustomization = toJson(YAML::Load(readFile(file)));
  } catch (const YAML::Exception& e) {
    out.errors.push_back(file.string() + ": invalid YAML: " + e.what());
    return out;
  }
  if (!kustomization.is_object()) {
    out.errors.push_back(file.string() + ": expected a map");
    return out;
  }
  static const std::set<std::string> kKeys = {"apiVersion", "kind",    "resources",
                                              "namespace",  "patches", "labels"};
  for (const auto& [key, value] : kustomization.items()) {
    if (!kKeys.count(key)) {
      out.errors.push_back(file.string() + ": " + key + " is not supported by the test renderer");
    }
  }
  if (kustomization.value("kind", "") != "Kustomization" ||
      kustomization.value("apiVersion", "") != "kustomize.config.k8s.io/v1beta1") {
    out.errors.push_back(file.string() +
                         ": expected kustomize.config.k8s.io/v1beta1 Kustomization");
  }
  const Json resources = kustomization.value("resources", Json::array());
  for (const Json& resource : resources) {
    if (!resource.is_string()) {
      out.errors.push_back(file.string() + ": resources: expected paths");
      continue;
    }
    const fs::path path = dir / resource.get<std::string>();
    if (fs::is_directory(path)) {
      Rendered inner = render(path, depth + 1);
      out.errors.insert(out.errors.end(), inner.errors.begin(), inner.errors.end());
      out.objects.insert(out.objects.end(), inner.objects.begin(), inner.objects.end());
    } else if (fs::is_regular_file(path)) {
      loadResourceFile(path, out);
    } else {
      out.errors.push_back(file.string() + ": resource " + path.string() + " does not exist");
    }
  }
  // kustomize's order: patches, then the namespace, then labels.
  if (kustomization.contains("patches")) applyPatches(kustomization.at("patches"), file, out);
  if (kustomization.contains("namespace")) {
    setNamespace(kustomization.at("namespace").get<std::string>(), out);
  }
  if (kustomization.contains("labels")) addLabels(kustomization.at("labels"), file, out);

  std::set<std::string> ids;
  for (const RenderedObject& rendered : out.objects) {
    if (!ids.insert(idOf(rendered.object)).second) {
      out.errors.push_back(file.string() + ": " + idOf(rendered.object) +
                           " is defined twice (kustomize refuses this)");
    }
  }
  return out;
}

}  // namespace kustomize_detail

// Renders the kustomization in `dir` like `kubectl kustomize dir` (see the file comment).
inline Rendered renderKustomization(const std::filesystem::path& dir) {
  return kustomize_detail::render(dir, 0);
}

// Every object of `kind` (and `name`, when not empty) in a rendering.
inline std::vector<const nlohmann::json*> objectsOf(const Rendered& rendered,
                                                    const std::string& kind,
                                                    const std::string& name = "") {
  std::vector<const nlohmann::json*> out;
  for (const RenderedObject& object : rendered.objects) {
    if (kustomize_detail::text(object.object, "/kind"_json_pointer) != kind) continue;
    if (!name.empty() &&
        kustomize_detail::text(object.object, "/metadata/name"_json_pointer) != name) {
      continue;
    }
    out.push_back(&object.object);
  }
  return out;
}

}  // namespace peergate::test
