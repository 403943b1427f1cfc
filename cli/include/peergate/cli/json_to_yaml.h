#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace peergate::cli {

// Renders a JSON document as block-style YAML with the same structure and key order.
std::string toYaml(const nlohmann::ordered_json& document);

// Pretty JSON (2-space indent, trailing newline); invalid UTF-8 from inputs is replaced, never
// thrown on.
std::string toJsonText(const nlohmann::ordered_json& document);

}  // namespace peergate::cli
