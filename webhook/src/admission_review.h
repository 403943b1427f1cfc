#pragma once

// The AdmissionReview wire format (admission.k8s.io/v1 and v1beta1): reading a request,
// writing a response, and the hygiene kubectl and the API server expect of messages and
// warnings. Also the contract between the router and the route handlers.

#include <cstddef>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/model.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/config.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

inline constexpr std::string_view kAdmissionV1 = "admission.k8s.io/v1";
inline constexpr std::string_view kAdmissionV1beta1 = "admission.k8s.io/v1beta1";

// Nesting deeper than this is refused before any handler sees the object.
inline constexpr std::size_t kMaxJsonDepth = 128;
// What a denial message and one warning are kept under (bytes and runes respectively).
inline constexpr std::size_t kMaxMessageBytes = 1000;
inline constexpr std::size_t kMaxWarningRunes = 120;

struct GroupVersionKind {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
};

// `request` of an AdmissionReview. Absent and `null` objects are both null JSON values.
struct AdmissionRequest {
  std::string api_version{kAdmissionV1};  // of the review; the reply uses the same
  std::string uid;                        // "" until read
  GroupVersionKind kind;
  std::string resource;  // plural, e.g. "peerauthentications"
  std::string sub_resource;
  std::string name;            // "" on CREATE with generateName
  std::string namespace_name;  // set for a Namespace object too
  std::string operation;       // CREATE | UPDATE | DELETE | CONNECT
  std::string username;
  nlohmann::json object;      // null on DELETE
  nlohmann::json old_object;  // null on CREATE
  bool dry_run = false;
};

// What a handler decides; the router turns it into the wire reply.
struct AdmissionResponse {
  bool allowed = true;
  int code = 0;         // status.code when not allowed: 400, 403, 404, 413, 415, 500, 503
  std::string message;  // status.message when not allowed
  // Not None when the request, not the object, was at fault (or we were, or the state): why.
  AdmissionError error = AdmissionError::None;
  std::vector<std::string> warnings;
  nlohmann::json patch = nlohmann::json::array();  // RFC 6902 ops; empty = no patch
};

AdmissionResponse allowResponse();
// A verdict about the object (403 policy, 400 undecodable object).
AdmissionResponse denyResponse(int code, std::string message);
// A fault of the request or of the webhook itself (counted separately). The reason follows the
// code (413 BodyTooLarge, 404 UnknownRoute, other 4xx BadRequest, 5xx Internal) unless given.
AdmissionResponse errorResponse(int code, std::string message);
AdmissionResponse errorResponse(int code, std::string message, AdmissionError reason);

// metav1.Status reason for an HTTP code: 403 "Forbidden", 400 "BadRequest", ...
std::string_view statusReason(int code);

// How deeply `text` nests objects and arrays, counting no further than `limit` + 1.
std::size_t jsonNestingDepth(std::string_view text, std::size_t limit = kMaxJsonDepth);

// Reads `review` into `request`, moving the objects out. Fills what it can (api version, uid)
// even when it fails, so the error reply still echoes them.
std::optional<AdmissionResponse> decodeAdmissionReview(nlohmann::json& review,
                                                       AdmissionRequest& request);

// The reply AdmissionReview: same apiVersion as the request, uid echoed, `status` only when
// denied, warnings cleaned, patch (base64, patchType JSONPatch) only when non-empty.
std::string encodeAdmissionReview(const AdmissionRequest& request,
                                  const AdmissionResponse& response);

// One line: control characters become spaces, runs of spaces collapse, and the text is cut at
// a UTF-8 boundary (preferring a word boundary) to `max_bytes`, ending in "...".
std::string oneLine(std::string_view text, std::size_t max_bytes);

// Warnings as the API server keeps them: one line each, at most kMaxWarningRunes runes, no
// empty ones, no duplicates, order kept.
std::vector<std::string> cleanWarnings(const std::vector<std::string>& warnings);

// ---- The objects a request carries, read by the engine's own decoder ----

struct RequestObject {
  validation::Inputs inputs;  // exactly the one object
  validation::ObjectRef ref;
  validation::ObjectMeta meta;
};

// Decodes `source` (request.object or request.oldObject) as a `request.kind.kind`, filling what
// the API server leaves implicit (namespace from the request, a name for generateName). A
// denial (400) naming the field when the object cannot be read.
std::optional<AdmissionResponse> decodeRequestObject(const AdmissionRequest& request,
                                                     const nlohmann::json& source,
                                                     RequestObject& out);

// A review's state under construction: the objects it reads, by address (the snapshot's), and
// what keeps them alive (the snapshot, copies of the request's objects). Selecting instead of
// copying keeps a review's cost off the size of the objects (validate_handler.cc).
struct StateParts {
  validation::ObjectSelection objects;
  std::vector<std::shared_ptr<const void>> owners;
};

// Puts a copy of the object in place of any object of the same kind, namespace and name; with
// `keep_created`, a replaced object's creationTimestamp carries over when the new one has none.
void putObject(StateParts& parts, const RequestObject& object, bool keep_created);

// What a change can reach: the namespaces whose workloads may change mode, or everything (a
// mesh-wide policy, a wildcard DestinationRule host). Reviews plan on that part of the state
// only, so a namespace's change costs that namespace, not the cluster (validate_handler.cc).
struct Reach {
  bool everything = false;
  std::set<std::string> namespaces;

  void add(const validation::ObjectRef& ref, const validation::MeshConfig& mesh);
  void add(const RequestObject& object, const validation::MeshConfig& mesh);
};

// The snapshot's objects within `reach`, plus the root namespace (its policies apply
// everywhere); DestinationRules whose host may name a namespace within reach. All of them when
// `reach.everything`. By address, in the snapshot's order namespace by namespace.
validation::ObjectSelection selectionWithin(const validation::ClusterState& snapshot,
                                            const Reach& reach);
// A review's state over selectionWithin stands for the whole snapshot in the checks that look
// beyond the reached namespaces (workloads without a proxy elsewhere, PG0115); nothing to do
// when the reach is everything.
void standForSnapshot(validation::ClusterState& state, const validation::ClusterState& snapshot,
                      const Reach& reach);
// A copy of the objects selectionWithin selects.
validation::Inputs inputsWithin(const validation::ClusterState& snapshot, const Reach& reach);

// ---- The route handlers (validate_handler.cc, mutate_handler.cc, inject_handler.cc) ----

class ReviewCache;

struct AdmissionContext {
  const StateStore& state;
  const WebhookConfig& config;
  ReviewCache* reviews = nullptr;  // shared `before` analyses (review_cache.h); none in tests
};

// ---- Cluster-state freshness, the same for every route (state_freshness.cc) ----

// The published snapshot, or nullptr with `refusal` set (500, state_unavailable) when there is
// none yet.
StateStore::Snapshot currentState(const AdmissionContext& context,
                                  std::optional<AdmissionResponse>& refusal);

// "cluster state is stale: last confirmed 412 s ago (limit 300 s)" when the last confirmed sync
// is older than maxStalenessSeconds; nullopt while fresh.
std::optional<std::string> staleness(const AdmissionContext& context);

// The fail-closed answer to stale state: 503, state_unavailable, saying what to wait for.
AdmissionResponse staleRefusal(const std::string& staleness);

// /validate's answer to stale state: refused (503), or admitted unchecked with a warning under
// failOpenWhenStale; nullopt while fresh.
std::optional<AdmissionResponse> staleStateResponse(const AdmissionContext& context);

AdmissionResponse validateAdmission(const AdmissionContext& context,
                                    const AdmissionRequest& request, AdmissionOutcome& outcome);
AdmissionResponse mutateAdmission(const AdmissionContext& context, const AdmissionRequest& request,
                                  AdmissionOutcome& outcome);
// inject_handler.cc
AdmissionResponse injectAdmission(const AdmissionContext& context, const AdmissionRequest& request,
                                  AdmissionOutcome& outcome);

}  // namespace peergate::webhook
