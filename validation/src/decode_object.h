#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "decode_fields.h"
#include "peergate/validation/model.h"

namespace peergate::validation::detail {

// `List`, or `FooList` (kubectl's typed lists).
bool isListKind(std::string_view kind);

// The kind of the items of a typed List ("PodList" → "Pod"); "" for `List`.
std::string_view itemKindOf(std::string_view list_kind);

// Decodes one Kubernetes object (or a List of them) into `inputs`: known kinds are appended,
// others counted in `inputs.skipped_kinds`, shape errors go to `context.errors`. Returns the
// number of objects of known kinds that were appended.
int decodeObject(const nlohmann::json& object, const DecodeContext& context, Inputs& inputs);

}  // namespace peergate::validation::detail
