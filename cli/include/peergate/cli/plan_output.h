#pragma once

#include <iosfwd>

#include <nlohmann/json.hpp>

#include "peergate/validation/plan.h"

namespace peergate::cli {

// {"changes":[{namespace,name,kind,port,before,after,decidedBefore,decidedAfter}],
//  "introduced":[finding],"cleared":[finding],"threshold":"Error","refused":bool}
nlohmann::ordered_json planJson(const validation::Plan& plan, validation::Severity threshold);

// The changes table, then introduced and cleared findings, then the verdict line.
void writePlanText(const validation::Plan& plan, validation::Severity threshold, std::ostream& out);

}  // namespace peergate::cli
