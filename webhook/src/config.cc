#include "peergate/webhook/config.h"

#include <yaml-cpp/yaml.h>

namespace peergate::webhook {
namespace {

using validation::Error;

Error configError(std::string path, std::string message) {
  return Error{"config", "", 0, 0, std::move(path), std::move(message)};
}

std::optional<FindingAction> parseAction(const std::string& text) {
  if (text == "deny") return FindingAction::Deny;
  if (text == "warn") return FindingAction::Warn;
  if (text == "off") return FindingAction::Off;
  return std::nullopt;
}

std::optional<Error> readActions(const YAML::Node& node, WebhookConfig& config) {
  if (!node.IsMap()) return configError("actions", "expected a map of finding code to action");
  for (const auto& entry : node) {
    const std::string code_text = entry.first.as<std::string>();
    const auto code = validation::parseCode(code_text);
    if (!code) {
      return configError("actions." + code_text, "unknown finding code (see docs/findings.md)");
    }
    const auto action = parseAction(entry.second.as<std::string>(""));
    if (!action) return configError("actions." + code_text, "action must be deny, warn or off");
    config.actions[*code] = *action;
  }
  return std::nullopt;
}

std::optional<Error> readInjection(const YAML::Node& node, InjectionConfig& injection) {
  if (!node.IsMap()) return configError("injection", "expected a map");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "proxyImage") {
      injection.proxy_image = value.as<std::string>();
    } else if (key == "imagePullPolicy") {
      injection.image_pull_policy = value.as<std::string>();
    } else if (key == "controlPlaneAddress") {
      injection.control_plane_address = value.as<std::string>();
    } else if (key == "revision") {
      injection.revision = value.as<std::string>();
    } else {
      return configError("injection." + key,
                         "unknown key (known: proxyImage, imagePullPolicy, controlPlaneAddress, "
                         "revision)");
    }
  }
  return std::nullopt;
}

std::optional<Error> readTopLevel(const YAML::Node& root, WebhookConfig& config) {
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    std::optional<Error> error;
    if (key == "actions") {
      error = readActions(entry.second, config);
    } else if (key == "injection") {
      error = readInjection(entry.second, config.injection);
    } else if (key == "maxStalenessSeconds") {
      config.max_staleness_seconds = entry.second.as<int>();
    } else if (key == "failOpenWhenStale") {
      config.fail_open_when_stale = entry.second.as<bool>();
    } else {
      error = configError(key,
                          "unknown key (known: actions, injection, maxStalenessSeconds, "
                          "failOpenWhenStale)");
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
    if (!root.IsMap()) return configError("", "the config must be a YAML map");
    if (std::optional<Error> error = readTopLevel(root, config)) return *error;
  } catch (const YAML::Exception& e) {
    Error error = configError("", "invalid YAML: " + e.msg);
    error.line = e.mark.line + 1;
    return error;
  }
  return config;
}

}  // namespace peergate::webhook
