#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "peergate/validation/model.h"
#include "peergate/validation/result.h"

namespace peergate::validation {

struct DecodeLimits {
  std::size_t max_bytes = std::size_t{512} << 20;  // per input text
  int max_depth = 128;                             // nesting of maps/lists
  std::size_t max_documents = 1'000'000;           // YAML documents + List items
};

struct DecodeOutcome {
  std::vector<Error> errors;  // each names file, document, line (when known) and field path
  int objects = 0;            // objects decoded (known kinds)
  bool ok() const { return errors.empty(); }
};

// Decodes YAML (multi-document) or JSON text: single objects, `kind: List` / `*List`, and
// `kubectl get -o json|yaml` output. Known kinds are appended to `inputs`; unknown kinds are
// counted in `inputs.skipped_kinds`. A bad object is reported and skipped; the others still
// load. Never throws.
DecodeOutcome decodeInto(std::string_view text, std::string_view file, Inputs& inputs,
                         const DecodeLimits& limits = {});

// Decodes one already-parsed Kubernetes object (e.g. an AdmissionReview's `request.object`).
DecodeOutcome decodeObjectInto(const nlohmann::json& object, const SourceLocation& where,
                               Inputs& inputs);

}  // namespace peergate::validation
