#include "peergate/webhook/config.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <yaml-cpp/yaml.h>

namespace peergate::webhook {
namespace {

using validation::Error;
using validation::FindingInfo;

constexpr std::string_view kKnownTopLevel =
    "actions, injection, maxStalenessSeconds, failOpenWhenStale";

// The config is one YAML document, so no "document N" in its errors; the line when known.
Error configError(std::string path, std::string message, const YAML::Node& where) {
  Error error{"config", "", -1, 0, std::move(path), std::move(message)};
  if (where.IsDefined() && where.Mark().line >= 0) error.line = where.Mark().line + 1;
  return error;
}

// What a value is, for "expected X, got Y": the scalar quoted, else its shape.
std::string describeValue(const YAML::Node& node) {
  if (node.IsScalar()) return "\"" + node.Scalar() + "\"";
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  return "no value";
}

std::string keyText(const YAML::Node& key) { return key.IsScalar() ? key.Scalar() : "<key>"; }

// `node` as T, or an error naming the key and the expected type: yaml-cpp alone says only
// "bad conversion", which names neither.
template <typename T>
std::optional<Error> readScalar(const YAML::Node& node, const std::string& path,
                                std::string_view expected, T& out) {
  if (node.IsScalar()) {
    try {
      out = node.as<T>();
      return std::nullopt;
    } catch (const YAML::BadConversion&) {
      // reported below with the key
    }
  }
  return configError(path, "expected " + std::string(expected) + ", got " + describeValue(node),
                     node);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Levenshtein distance, case-insensitive: enough to point at a mistyped code or name.
std::size_t distance(const std::string& a_text, std::string_view b_text) {
  const std::string a = lower(a_text);
  const std::string b = lower(std::string(b_text));
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The catalogue entry whose code or name is closest to `text`.
const FindingInfo& closestFinding(const std::string& text) {
  const FindingInfo* best = &validation::findingCatalogue().front();
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const FindingInfo& info : validation::findingCatalogue()) {
    const std::size_t d =
        std::min(distance(text, validation::codeString(info.code)), distance(text, info.name));
    if (d < best_distance) {
      best = &info;
      best_distance = d;
    }
  }
  return *best;
}

std::optional<FindingAction> parseAction(const std::string& text) {
  if (text == "deny") return FindingAction::Deny;
  if (text == "warn") return FindingAction::Warn;
  if (text == "off") return FindingAction::Off;
  return std::nullopt;
}

std::optional<Error> unknownCode(const std::string& path, const std::string& key,
                                 const YAML::Node& where) {
  const FindingInfo& closest = closestFinding(key);
  return configError(path,
                     "unknown finding code \"" + key + "\"; did you mean " +
                         validation::codeString(closest.code) + " (" + std::string(closest.name) +
                         ")? Keys are the codes or names listed in docs/findings.md",
                     where);
}

// `key` locates the error: an empty value has no position of its own.
std::optional<Error> readAction(const YAML::Node& key, const YAML::Node& value,
                                FindingAction& action) {
  const std::string text = value.IsScalar() ? value.Scalar() : "";
  if (const auto parsed = parseAction(text)) {
    action = *parsed;
    return std::nullopt;
  }
  std::string message = "expected deny, warn or off, got " + describeValue(value);
  if (parseAction(lower(text))) message += "; actions are lower case: " + lower(text);
  return configError("actions." + keyText(key), std::move(message), key);
}

// The code an `actions` key names, or an error when it names none, names one of Istio's own
// rules (not configurable), or names a code an earlier key (its code or its name) already set.
std::optional<Error> readActionKey(const YAML::Node& key_node,
                                   std::map<validation::FindingCode, std::string>& set_by,
                                   validation::FindingCode& code) {
  const std::string key = keyText(key_node);
  const std::string path = "actions." + key;
  const auto parsed = validation::parseCode(key);
  if (!parsed) return unknownCode(path, key, key_node);
  if (*parsed < validation::FindingCode::MeshWideDisable) {
    return configError(path,
                       "Istio's own object rules (PG00xx) always refuse an invalid object and "
                       "cannot be configured; remove this entry",
                       key_node);
  }
  if (const auto earlier = set_by.find(*parsed); earlier != set_by.end()) {
    return configError(path,
                       validation::codeString(*parsed) + " is already set by actions." +
                           earlier->second + "; keep one of the two",
                       key_node);
  }
  set_by.emplace(*parsed, key);
  code = *parsed;
  return std::nullopt;
}

std::optional<Error> readActions(const YAML::Node& node, WebhookConfig& config) {
  if (!node.IsMap()) {
    return configError(
        "actions",
        "expected a map of finding code to action (PG0102: warn), got " + describeValue(node),
        node);
  }
  std::map<validation::FindingCode, std::string> set_by;
  for (const auto& entry : node) {
    validation::FindingCode code{};
    FindingAction action = FindingAction::Deny;
    if (auto error = readActionKey(entry.first, set_by, code)) return error;
    if (auto error = readAction(entry.first, entry.second, action)) return error;
    config.actions[code] = action;
  }
  return std::nullopt;
}

std::optional<Error> readInjectionKey(const std::string& key, const YAML::Node& value,
                                      InjectionConfig& injection) {
  const std::string path = "injection." + key;
  constexpr std::string_view kString = "a string";
  if (key == "proxyImage") return readScalar(value, path, kString, injection.proxy_image);
  if (key == "imagePullPolicy")
    return readScalar(value, path, kString, injection.image_pull_policy);
  if (key == "controlPlaneAddress") {
    return readScalar(value, path, kString, injection.control_plane_address);
  }
  if (key == "revision") return readScalar(value, path, kString, injection.revision);
  return configError(path,
                     "unknown key (known: proxyImage, imagePullPolicy, controlPlaneAddress, "
                     "revision)",
                     value);
}

std::optional<Error> readInjection(const YAML::Node& node, InjectionConfig& injection) {
  if (!node.IsMap()) {
    return configError("injection", "expected a map, got " + describeValue(node), node);
  }
  for (const auto& entry : node) {
    if (auto error = readInjectionKey(keyText(entry.first), entry.second, injection)) return error;
  }
  return std::nullopt;
}

// 0 would make every state stale the moment it is read (every request refused); negative
// values mean nothing.
std::optional<Error> readMaxStaleness(const YAML::Node& node, int& seconds) {
  const std::string path = "maxStalenessSeconds";
  if (auto error = readScalar(node, path, "a whole number of seconds (e.g. 300)", seconds)) {
    return error;
  }
  if (seconds >= 1) return std::nullopt;
  return configError(
      path, "must be at least 1 (seconds), got " + std::to_string(seconds) + "; the default is 300",
      node);
}

std::optional<Error> readTopLevel(const YAML::Node& root, WebhookConfig& config) {
  for (const auto& entry : root) {
    const std::string key = keyText(entry.first);
    const YAML::Node& value = entry.second;
    std::optional<Error> error;
    if (key == "actions") {
      error = readActions(value, config);
    } else if (key == "injection") {
      error = readInjection(value, config.injection);
    } else if (key == "maxStalenessSeconds") {
      error = readMaxStaleness(value, config.max_staleness_seconds);
    } else if (key == "failOpenWhenStale") {
      error = readScalar(value, key, "true or false", config.fail_open_when_stale);
    } else {
      error =
          configError(key, "unknown key (known: " + std::string(kKnownTopLevel) + ")", entry.first);
    }
    if (error) return error;
  }
  return std::nullopt;
}

}  // namespace

FindingAction WebhookConfig::actionFor(const validation::Finding& finding) const {
  auto it = actions.find(finding.code);
  if (it != actions.end()) return it->second;
  return finding.severity == validation::Severity::Error ? FindingAction::Deny
                                                         : FindingAction::Warn;
}

validation::Result<WebhookConfig> parseWebhookConfig(const std::string& yaml_text) {
  WebhookConfig config;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return config;
    if (!root.IsMap()) return configError("", "the config must be a YAML map", root);
    if (std::optional<Error> error = readTopLevel(root, config)) return *error;
  } catch (const YAML::Exception& e) {
    Error error = configError("", "invalid YAML: " + e.msg, YAML::Node());
    error.line = e.mark.line + 1;
    return error;
  }
  return config;
}

std::vector<std::string> configWarnings(const WebhookConfig& config) {
  std::vector<std::string> warnings;
  for (const auto& [code, action] : config.actions) {
    const FindingInfo& info = validation::findingInfo(code);
    if (action != FindingAction::Off || info.severity != validation::Severity::Error) continue;
    warnings.push_back("actions." + validation::codeString(code) + ": " + std::string(info.name) +
                       " is an Error finding turned off: a change that introduces it is "
                       "admitted with no warning and no count; use warn to admit it visibly");
  }
  return warnings;
}

}  // namespace peergate::webhook
