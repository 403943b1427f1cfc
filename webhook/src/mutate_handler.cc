// POST /mutate: records what a PeerAuthentication means as annotations (its scope, and how the
// modes of the workloads it reaches change). Never touches spec.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "admission_review.h"
#include "json_patch.h"
#include "peergate/validation/resolve.h"

namespace peergate::webhook {
namespace {

using nlohmann::json;
using validation::ClusterState;
using validation::Mode;
using validation::PeerAuthentication;
using validation::Scope;
using validation::Workload;

constexpr std::string_view kScopeAnnotation = "peergate.io/scope";
constexpr std::string_view kEffectiveAnnotation = "peergate.io/effective";

using Annotations = std::vector<std::pair<std::string, std::string>>;

std::optional<AdmissionResponse> checkRequest(const AdmissionRequest& request) {
  if (request.kind.kind != "PeerAuthentication") {
    return errorResponse(400, "/mutate handles PeerAuthentication only, not \"" +
                                  request.kind.kind + "\"; check the webhook's rules");
  }
  const std::string& op = request.operation;
  if (op != "CREATE" && op != "UPDATE") {
    return errorResponse(400,
                         "/mutate handles CREATE and UPDATE (DELETE passes), not \"" + op + "\"");
  }
  if (request.object.is_null()) return errorResponse(400, "request.object is missing for " + op);
  return std::nullopt;
}

// "mesh", "namespace", "workload", or "ignored" (a selector policy in the root namespace).
std::string scopeText(const std::optional<Scope>& scope) {
  return scope ? std::string(validation::toString(*scope)) : "ignored";
}

// The workloads a policy of this scope can reach.
std::vector<const Workload*> reached(const ClusterState& state, const PeerAuthentication& policy,
                                     const std::optional<Scope>& scope) {
  if (!scope) return {};
  if (*scope == Scope::Mesh) return state.workloads();
  const std::vector<const Workload*>& in_namespace = state.workloadsIn(policy.meta.namespace_name);
  if (*scope == Scope::Namespace) return in_namespace;
  std::vector<const Workload*> out;
  for (const Workload* workload : in_namespace) {
    if (validation::selectorMatches(*policy.selector, workload->pod_labels)) {
      out.push_back(workload);
    }
  }
  return out;
}

std::map<Mode, int> countModes(const ClusterState& state,
                               const std::vector<const Workload*>& workloads) {
  std::map<Mode, int> counts;
  for (const Workload* workload : workloads) {
    ++counts[validation::resolveWorkload(state, *workload).mode];
  }
  return counts;
}

// "3 workloads: STRICT 0->3, PERMISSIVE 3->0, DISABLE 0"
std::string effectiveSummary(const ClusterState& before, const ClusterState& after,
                             const PeerAuthentication& policy, const std::optional<Scope>& scope) {
  const std::vector<const Workload*> now = reached(after, policy, scope);
  const std::map<Mode, int> was = countModes(before, reached(before, policy, scope));
  const std::map<Mode, int> will = countModes(after, now);
  std::string text = std::to_string(now.size()) + (now.size() == 1 ? " workload" : " workloads");
  const char* separator = ": ";
  for (Mode mode : {Mode::Strict, Mode::Permissive, Mode::Disable}) {
    const int from = was.count(mode) ? was.at(mode) : 0;
    const int to = will.count(mode) ? will.at(mode) : 0;
    text += separator + std::string(validation::toString(mode)) + " " +
            (from == to ? std::to_string(to) : std::to_string(from) + "->" + std::to_string(to));
    separator = ", ";
  }
  return text;
}

const json* annotationsOf(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto annotations = meta->find("annotations");
  return annotations == meta->end() ? nullptr : &*annotations;
}

// Ops that make the object carry `wanted`: one `add` per annotation that differs, or one `add`
// of the whole map when the object has none.
JsonPatch annotationPatch(const json& object, const Annotations& wanted) {
  JsonPatch patch;
  json all = json::object();
  for (const auto& [key, value] : wanted) all[key] = value;
  const json* existing = annotationsOf(object);
  if (!object.contains("metadata")) {
    patch.add("/metadata", {{"annotations", all}});
  } else if (existing == nullptr || !existing->is_object()) {
    patch.add(jsonPointer({"metadata", "annotations"}), all);
  } else {
    for (const auto& [key, value] : wanted) {
      const auto current = existing->find(key);
      if (current != existing->end() && *current == value) continue;
      patch.add(jsonPointer({"metadata", "annotations", key}), value);
    }
  }
  return patch;
}

// Stale state could write a summary that contradicts the live cluster. Fail closed refuses like
// /validate; fail open admits the policy unannotated, and drops annotations it carries from an
// earlier version (they would describe a spec that may no longer be this one).
AdmissionResponse staleMutation(const AdmissionContext& context, const AdmissionRequest& request,
                                const std::string& staleness) {
  if (!context.config.fail_open_when_stale) return staleRefusal(staleness);
  AdmissionResponse response = allowResponse();
  response.warnings.push_back("peergate did not annotate this policy: " + staleness);
  const json* existing = annotationsOf(request.object);
  if (existing == nullptr || !existing->is_object()) return response;
  JsonPatch patch;
  for (std::string_view key : {kScopeAnnotation, kEffectiveAnnotation}) {
    if (existing->contains(key)) patch.remove(jsonPointer({"metadata", "annotations", key}));
  }
  response.patch = patch.ops();
  return response;
}

}  // namespace

AdmissionResponse mutateAdmission(const AdmissionContext& context, const AdmissionRequest& request,
                                  AdmissionOutcome& outcome) {
  if (request.kind.kind == "PeerAuthentication" && request.operation == "DELETE") {
    return allowResponse();
  }
  if (auto problem = checkRequest(request)) return *problem;
  std::optional<AdmissionResponse> unavailable;
  const StateStore::Snapshot snapshot = currentState(context, unavailable);
  if (!snapshot) return *unavailable;
  if (const auto stale = staleness(context)) return staleMutation(context, request, *stale);
  RequestObject object;
  if (auto problem = decodeRequestObject(request, request.object, object)) return *problem;
  outcome.name = object.ref.name;
  const PeerAuthentication& policy = object.inputs.peer_authentications.front();
  const std::optional<Scope> scope = validation::policyScope(policy, snapshot->mesh());
  Reach reach;
  reach.add(object, snapshot->mesh());
  StateParts parts{selectionWithin(*snapshot, reach), {snapshot}};
  putObject(parts, object, request.operation == "UPDATE");
  const ClusterState after(std::move(parts.objects), snapshot->mesh(), std::move(parts.owners));
  const Annotations wanted = {
      {std::string(kScopeAnnotation), scopeText(scope)},
      {std::string(kEffectiveAnnotation), effectiveSummary(*snapshot, after, policy, scope)}};
  AdmissionResponse response = allowResponse();
  response.patch = annotationPatch(request.object, wanted).ops();
  return response;
}

}  // namespace peergate::webhook
