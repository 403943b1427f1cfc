#pragma once

// Leaf certificates signed by the root: workload identities (SPIFFE, for mTLS between proxies)
// and serving certificates (DNS names, for the webhook's HTTPS).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/identity/ca.h"
#include "peergate/identity/certificate.h"
#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"
#include "peergate/identity/spiffe.h"

namespace peergate::identity {

// Verifiers' clocks differ: a leaf is valid from 5 minutes before it was issued.
inline constexpr std::chrono::minutes kClockSkewAllowance{5};

struct IssueOptions {
  Clock::time_point now;
  std::chrono::seconds ttl = std::chrono::hours(24);
};

// A workload leaf for `id` and `subject_key` (a public key suffices): empty subject, URI SAN =
// the SPIFFE ID (critical, as the subject is empty), basicConstraints critical CA:FALSE,
// keyUsage critical digitalSignature (+ keyEncipherment for RSA keys), extendedKeyUsage
// serverAuth + clientAuth, subject and authority key identifiers, random 128-bit serial,
// notBefore = now - 5 min, notAfter = now + ttl but never after the CA's notAfter.
// Error codes "issue.ttl", "issue.ca_expired", "issue.ca_not_yet_valid", "key.weak",
// "key.unsupported", "spiffe.*" (a malformed id), "issue.*" (OpenSSL failures).
Result<CertPtr> issueWorkloadCert(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                                  const SpiffeId& id, const IssueOptions& options);

struct ServingNames {
  std::vector<std::string> dns;  // at least one DNS name or IP address in all
  std::vector<std::string> ips;  // IPv4 or IPv6 literals
};

// What is wrong with a DNS name for a serving certificate (a hostname, optionally "*." first),
// or nullopt when it is fine.
std::optional<std::string> dnsNameProblem(std::string_view name);
// What is wrong with an IP literal, or nullopt when it is an IPv4 or IPv6 address.
std::optional<std::string> ipAddressProblem(std::string_view address);

// A serving leaf: subject CN = the first DNS name (or IP), SAN = the DNS names and IPs,
// extendedKeyUsage serverAuth; otherwise as issueWorkloadCert. Error codes "serving.names",
// "serving.dns_name", "serving.ip_address" and those of issueWorkloadCert.
Result<CertPtr> issueServingCert(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                                 const ServingNames& names, const IssueOptions& options);

// The CA endpoint's signing step, once the caller's identity is established (TokenReview):
// parses the PEM CSR, verifies its self-signature, checks its key (checkAcceptableKey), and
// requires that it asks for exactly `expected`: one URI SAN equal to expected.uri(), no other
// SAN of any kind, no CA:TRUE. Nothing else of the CSR (subject, other extensions) is copied;
// the leaf is issueWorkloadCert(expected). Error codes "csr.parse", "csr.signature",
// "csr.identity", "csr.san", "csr.ca", "key.*" and those of issueWorkloadCert.
Result<CertPtr> signWorkloadCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                const SpiffeId& expected, const IssueOptions& options);

}  // namespace peergate::identity
