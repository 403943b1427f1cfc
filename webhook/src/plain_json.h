#pragma once

// The JSON the API server sends: ASCII text, strings with the one-character escapes, integers.
// Reading that subset directly costs a fraction of nlohmann's general parser, which every
// admission review used to go through. Anything outside the subset (a \u escape, UTF-8, a
// fraction, a syntax error, deeper nesting than allowed) reads as nullopt, and the caller parses
// the text with nlohmann::json::parse, which gives the same document for every text inside the
// subset (and the usual error message for a text that is not JSON).

#include <cstddef>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace peergate::webhook {

std::optional<nlohmann::json> parsePlainJson(std::string_view text, std::size_t max_depth);

}  // namespace peergate::webhook
