#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace peergate::validation::detail {

// `text` in double quotes, safe to print and to put in JSON: control characters and bytes
// outside ASCII become \xNN, and long texts are cut.
std::string quoteText(std::string_view text);

// "a map", "a list", "a string", "an integer", "a number", "a boolean", "null".
std::string_view typeName(const nlohmann::json& value);

}  // namespace peergate::validation::detail
