#pragma once

namespace peergate::cli {

// sysexits-style codes, as istioctl uses them, so CI scripts written for `istioctl analyze`
// keep working.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;   // a bug: an exception escaped a command
inline constexpr int kExitUsage = 64;     // EX_USAGE: bad flags, unknown workload or target
inline constexpr int kExitBadInput = 65;  // EX_DATAERR: unreadable or undecodable input
inline constexpr int kExitFindings = 79;  // findings at or above the failure threshold

}  // namespace peergate::cli
