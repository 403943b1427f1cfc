#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "decode_fields.h"
#include "peergate/validation/model.h"

namespace peergate::validation::detail {

// One decoder per kind. Each reads the whole object, reports every shape error through the
// reader, and appends the object to `inputs` only when it has none (a bad object is skipped,
// the others still load). Returns true when the object was appended.

// `namespaced`: objects without metadata.namespace land in "default", as `kubectl apply` would
// put them (there is no current-context namespace for files).
ObjectMeta decodeObjectMeta(const nlohmann::json& object, FieldReader& reader, bool namespaced);

bool decodePeerAuthentication(const nlohmann::json& object, std::string_view api_version,
                              FieldReader& reader, Inputs& inputs);
bool decodeNamespace(const nlohmann::json& object, FieldReader& reader, Inputs& inputs);
// Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob.
bool decodeWorkload(const nlohmann::json& object, std::string_view kind, FieldReader& reader,
                    Inputs& inputs);
bool decodeService(const nlohmann::json& object, FieldReader& reader, Inputs& inputs);
bool decodeDestinationRule(const nlohmann::json& object, FieldReader& reader, Inputs& inputs);
// The `istio` / `peergate-mesh` ConfigMap: `data.mesh` is YAML text.
bool decodeMeshConfigMap(const nlohmann::json& object, FieldReader& reader, Inputs& inputs);

}  // namespace peergate::validation::detail
