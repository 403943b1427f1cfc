#pragma once

// OpenSSL failures as identity Errors. Private to identity/.

#include <string>
#include <string_view>

#include "peergate/identity/result.h"

namespace peergate::identity::detail {

// The most recent OpenSSL error as text ("unknown OpenSSL error" when the queue is empty); the
// queue is cleared so a stale entry never explains a later failure.
std::string opensslError();

// Error{code, "<what>: <OpenSSL's reason>"}.
Error opensslFailure(std::string_view code, std::string_view what);

Error failure(std::string_view code, std::string message);

}  // namespace peergate::identity::detail
