#pragma once

// Certificates as data: PEM in and out, and the few fields messages and callers need.

#include <chrono>
#include <string>
#include <string_view>

#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"

namespace peergate::identity {

using Clock = std::chrono::system_clock;

Result<std::string> certificatePem(X509* cert);
// The first certificate in `pem`. Error code "cert.parse".
Result<CertPtr> parseCertificatePem(std::string_view pem);

struct Validity {
  Clock::time_point not_before;
  Clock::time_point not_after;
};
Validity validityOf(const X509* cert);

// Upper-case hex, as `openssl x509 -serial` prints it.
std::string serialHex(const X509* cert);
// RFC 2253 ("CN=peergate root CA,O=peergate"); "" for an empty subject.
std::string subjectText(const X509* cert);
// "2026-11-23T03:40:55Z".
std::string isoTime(Clock::time_point time);

}  // namespace peergate::identity
