#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/webhook/config.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

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
  bool errored = false;  // malformed request or internal error (counted separately)
  std::string message;   // denial or error message
  std::vector<std::string> finding_codes;         // findings that shaped the verdict
  std::vector<std::string> allowed_by_exception;  // codes admitted by peergate.io/allow
  std::string injection;  // "sidecar", "ambient", "skipped", "" when not an injection
};

struct AdmissionReply {
  int http_status = 200;  // 200 for every well-formed POST; 4xx only for non-AdmissionReview
  std::string body;       // AdmissionReview JSON (same apiVersion as the request)
  AdmissionOutcome outcome;
};

// Routes "/validate", "/mutate", "/inject" with no sockets involved, so tests and fuzzers drive
// it directly. Thread-safe: const, reads the store's current snapshot per request.
class AdmissionHandler {
 public:
  AdmissionHandler(const StateStore& state, WebhookConfig config);
  AdmissionReply handle(std::string_view route, std::string_view content_type,
                        std::string_view body) const;

 private:
  const StateStore& state_;
  WebhookConfig config_;
};

}  // namespace peergate::webhook
