#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/webhook/config.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

// Why a request could not be decided: the `reason` of peergate_admission_errors_total. Carried
// as data from where the fault is found, so the label never depends on a message's wording.
enum class AdmissionError {
  None,              // decided (allowed or denied on the object's merits)
  BadRequest,        // the review itself is malformed, the wrong kind, the wrong Content-Type
  BodyTooLarge,      // over the size limit
  BodyRead,          // the client stopped sending
  StateUnavailable,  // no cluster state yet, or state older than maxStalenessSeconds
  Internal,          // a fault of the webhook
  UnknownRoute,      // a path the webhook does not serve
};

// The metric label: "bad_request", "state_unavailable", ...; "" for None.
std::string_view toString(AdmissionError error);

// A finding code and the action actually applied to it on one request, for
// peergate_findings_total{code,action}.
struct AppliedFinding {
  std::string code;    // "PG0102"
  std::string action;  // "deny", "warn" or "exception" (a denial admitted by peergate.io/allow)
  bool operator==(const AppliedFinding&) const = default;
};

// What one admission decision was, for the decision log line and the metrics.
struct AdmissionOutcome {
  std::string webhook;  // "validate", "mutate", "inject"
  std::string uid;
  std::string kind;
  std::string namespace_name;
  std::string name;
  std::string operation;
  std::string user;
  bool allowed = false;
  bool dry_run = false;
  AdmissionError error = AdmissionError::None;  // not None: undecided (counted separately)
  std::string message;                          // denial or error message
  std::vector<AppliedFinding> findings;         // the codes that shaped the verdict, once each
  std::string injection;  // "sidecar", "ambient", "skipped", "stale", "" when not an injection

  bool errored() const { return error != AdmissionError::None; }
  // The codes of `findings`, in order; only those with `action` when given.
  std::vector<std::string> findingCodes(std::string_view action = {}) const;
};

struct AdmissionReply {
  int http_status = 200;  // 200 for every well-formed POST; 4xx only for non-AdmissionReview
  std::string body;       // AdmissionReview JSON (same apiVersion as the request)
  AdmissionOutcome outcome;
};

// Routes "/validate", "/mutate", "/inject" with no sockets involved, so tests and fuzzers drive
// it directly. Thread-safe: const, reads the store's current snapshot per request.
class ReviewCache;

class AdmissionHandler {
 public:
  AdmissionHandler(const StateStore& state, WebhookConfig config);
  AdmissionReply handle(std::string_view route, std::string_view content_type,
                        std::string_view body) const;

 private:
  const StateStore& state_;
  WebhookConfig config_;
  std::shared_ptr<ReviewCache> reviews_;  // copies of the handler share it
};

}  // namespace peergate::webhook
