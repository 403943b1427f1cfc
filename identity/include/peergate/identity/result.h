#pragma once

// The identity API reports failures like the engine does: a value or an Error{code, message}.

#include <variant>

#include "peergate/validation/result.h"

namespace peergate::identity {

using validation::Error;
using validation::Result;

// The value of a Result that only says "it worked".
using Done = std::monostate;

}  // namespace peergate::identity
