#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace peergate::validation::detail {

// The JSON value of a YAML scalar. yaml-cpp reports the tag "?" for plain scalars, "!" for
// quoted ones and the full tag when one is written (`!!str 5` → "tag:yaml.org,2002:str").
// Plain scalars follow the YAML 1.2 core schema, as Kubernetes manifests expect: null, ~ and
// the empty scalar are null; true/false in three spellings are booleans; decimal, 0x and 0o
// integers; floats with .inf/.nan; anything else (yes, no, on, 0777-style octal is decimal) is
// kept as written. Quoted scalars and unknown tags are strings.
nlohmann::json yamlScalarValue(std::string_view tag, const std::string& text);

}  // namespace peergate::validation::detail
