#include "peergate/cli/output_format.h"

namespace peergate::cli {

std::optional<OutputFormat> parseOutputFormat(std::string_view text) {
  if (text == "text") return OutputFormat::Text;
  if (text == "json") return OutputFormat::Json;
  if (text == "yaml") return OutputFormat::Yaml;
  return std::nullopt;
}

}  // namespace peergate::cli
