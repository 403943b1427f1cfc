#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "decode_lines.h"
#include "peergate/validation/decode.h"
#include "peergate/validation/result.h"

namespace peergate::validation::detail {

// A small YAML or JSON text read whole: a mesh config embedded in a ConfigMap, an observations
// file.
struct SingleDocument {
  nlohmann::json root;  // the first document that is not empty; null when there is none
  LineIndex lines;
  std::vector<Error> errors;  // encoding, syntax, duplicate keys, limits; `file` left empty
};

SingleDocument readSingleDocument(std::string_view text, const DecodeLimits& limits = {});

}  // namespace peergate::validation::detail
