#pragma once

#include <optional>
#include <string_view>

namespace peergate::cli {

enum class OutputFormat { Text, Json, Yaml };

std::optional<OutputFormat> parseOutputFormat(std::string_view text);

}  // namespace peergate::cli
