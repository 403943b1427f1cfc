#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "peergate/validation/result.h"

namespace peergate::cli {

// Certificate lifetimes as people write them: "24h", "90m", "8760h", "30d", "1h30m", "45s".
// One or more <digits><unit> with units s, m, h, d; positive, at most 100 years (so that adding
// it to a time point cannot overflow). Error code "duration" with a message that says how to
// write one.
validation::Result<std::chrono::seconds> parseDuration(std::string_view text);

// In hours, minutes and seconds, as Go prints durations: "24h", "720h", "1h30m", "45s", "0s".
std::string formatDuration(std::chrono::seconds duration);

}  // namespace peergate::cli
