#pragma once

// Writing key and certificate files so that a reader never sees a half-written file and a
// private key is never readable by anyone else, not even for an instant.

#include <string>
#include <string_view>

#include "peergate/identity/result.h"

namespace peergate::identity {

enum class FileMode {
  Public,   // 0644: certificates
  Private,  // 0600: private keys
};

enum class Overwrite { Refuse, Replace };

// Writes `content` to a temporary file in the target's directory, created with
// open(O_CREAT|O_EXCL|O_WRONLY|O_NOFOLLOW) and the final mode from the start, fsyncs it, then
// moves it into place: rename() to replace, link() to refuse an existing file without a race.
// Error codes: "file.exists" (Overwrite::Refuse and `path` exists), "file.write".
Result<Done> writeFileAtomically(const std::string& path, std::string_view content, FileMode mode,
                                 Overwrite overwrite);

// The whole file. Error code "file.read".
Result<std::string> readWholeFile(const std::string& path);

}  // namespace peergate::identity
