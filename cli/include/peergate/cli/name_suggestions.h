#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace peergate::cli {

// Candidates close to `wanted` (edit distance, or one containing the other), closest first.
std::vector<std::string> closeNames(const std::string& wanted,
                                    const std::vector<std::string>& candidates,
                                    std::size_t limit = 5);

std::size_t editDistance(const std::string& a, const std::string& b);

}  // namespace peergate::cli
