#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/result.h"

namespace peergate::validation {

// Traffic the proxies saw (format: docs/observations.md). The engine uses the entries without
// mesh mTLS (plaintext, tls_passthrough) as evidence that STRICT would cut a client off.
struct Observation {
  std::string namespace_name;  // destination namespace
  std::string workload;        // destination workload name ("" when only the pod is known)
  std::string pod;             // destination pod name ("" when unknown)
  int64_t port = 0;            // destination container port
  std::string security;        // "plaintext" | "mtls" | "tls_passthrough" (the client's own TLS)
  std::string source_ip;
  std::string source_identity;  // SPIFFE ID for mTLS; "" otherwise
  std::string source_workload;  // "ns/name" when the reporter could tell, else ""
  int64_t count = 0;
  std::string last_seen;  // RFC 3339
};

struct Observations {
  std::string window_start;
  std::string window_end;
  std::vector<Observation> entries;
};

Result<Observations> decodeObservations(std::string_view text, std::string_view file);

}  // namespace peergate::validation
