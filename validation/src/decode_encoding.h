#pragma once

#include <optional>
#include <string_view>

#include "peergate/validation/result.h"

namespace peergate::validation::detail {

// Refuses what is not UTF-8 text before any parser sees it: UTF-16/32 (a PowerShell redirect),
// NUL bytes (binary data), invalid UTF-8 sequences (yaml-cpp would pass them through). The
// error has a line; `file` is left to the caller.
std::optional<Error> checkTextEncoding(std::string_view text);

// `text` without a leading UTF-8 byte order mark.
std::string_view withoutByteOrderMark(std::string_view text);

}  // namespace peergate::validation::detail
