#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/model.h"

namespace peergate::cli {

// Parses a `--delete` target: KIND/NAMESPACE/NAME, or KIND/NAME for a Namespace. The kind is
// matched case-insensitively against the kinds the engine reads (and kubectl's short names:
// pa, dr, ns, svc, deploy, sts, ds, rs, po); nullopt when it names none.
std::optional<validation::ObjectRef> parseObjectRef(std::string_view text);

// Upserts every object of `change` into `inputs`: an object with the same kind, namespace and
// name is replaced (keeping the creationTimestamp and uid the cluster gave the original, as
// the API server does on update), any other is appended. A mesh config in `change` replaces
// the current one.
void upsertAll(validation::Inputs& inputs, validation::Inputs change);

// Removes the object named by `ref`; false when there is none. Removing a Namespace removes
// every object in it, as the API server's namespace deletion does.
bool removeObject(validation::Inputs& inputs, const validation::ObjectRef& ref);

// Every object the inputs hold, for "did you mean" messages.
std::vector<validation::ObjectRef> objectRefs(const validation::Inputs& inputs);

}  // namespace peergate::cli
