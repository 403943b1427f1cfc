// Whether the cluster state is fit to decide on, asked the same way by every route: a verdict or
// an injection on state older than maxStalenessSeconds could contradict the live cluster.

#include <chrono>

#include "admission_review.h"

namespace peergate::webhook {

StateStore::Snapshot currentState(const AdmissionContext& context,
                                  std::optional<AdmissionResponse>& refusal) {
  StateStore::Snapshot snapshot = context.state.current();
  if (!snapshot) {
    refusal = errorResponse(500, "cluster state not synced yet; retry shortly",
                            AdmissionError::StateUnavailable);
  }
  return snapshot;
}

std::optional<std::string> staleness(const AdmissionContext& context) {
  const auto age = StateStore::Clock::now() - context.state.lastSync();
  if (age <= std::chrono::seconds(context.config.max_staleness_seconds)) return std::nullopt;
  return "cluster state is stale: last confirmed " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) +
         " s ago (limit " + std::to_string(context.config.max_staleness_seconds) + " s)";
}

AdmissionResponse staleRefusal(const std::string& staleness) {
  return errorResponse(503, staleness + "; peergate cannot judge the change until it resyncs",
                       AdmissionError::StateUnavailable);
}

// Readiness already turns false on stale state; a request that still arrives is refused, or
// admitted with a warning when the operator chose failOpenWhenStale.
std::optional<AdmissionResponse> staleStateResponse(const AdmissionContext& context) {
  const std::optional<std::string> stale = staleness(context);
  if (!stale) return std::nullopt;
  if (!context.config.fail_open_when_stale) return staleRefusal(*stale);
  AdmissionResponse response = allowResponse();
  response.warnings.push_back("peergate admitted this unchecked: " + *stale);
  return response;
}

}  // namespace peergate::webhook
