#pragma once

// SPIFFE identities of Kubernetes workloads: spiffe://<trust-domain>/ns/<namespace>/sa/<sa>.
// The one parser every component uses (the CA when it signs, the proxy when it checks a peer),
// so an identity the CA would issue is exactly an identity the proxy accepts.

#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "peergate/identity/result.h"

namespace peergate::identity {

struct SpiffeId {
  std::string trust_domain;     // e.g. "cluster.local"
  std::string namespace_name;   // Kubernetes namespace
  std::string service_account;  // Kubernetes service account

  // "spiffe://<trust_domain>/ns/<namespace_name>/sa/<service_account>".
  std::string uri() const;

  bool operator==(const SpiffeId&) const = default;
};

// Strict parse of spiffe://<td>/ns/<ns>/sa/<sa>: lowercase scheme and trust domain (a-z 0-9 . - _,
// no port, no user info), a namespace that is a Kubernetes DNS label, a service account that is
// a DNS subdomain, no query, fragment, percent-encoding or extra path segments. Error codes are
// "spiffe.<what>" and the message names the part that is wrong.
Result<SpiffeId> parseSpiffeId(std::string_view uri);

// Every URI subjectAltName of `cert`, in order (empty when there is none, or when the
// certificate carries the SAN extension twice, which OpenSSL treats as unreadable).
std::vector<std::string> uriSans(X509* cert);

// The identity of a peer's leaf certificate, as the proxy accepts it: exactly one spiffe:// URI
// SAN, which parses and is in `trust_domain`, and the leaf is not a CA. The chain itself must be
// verified separately (X509_verify_cert / SSL_VERIFY_PEER); this only reads the leaf.
// Error codes: "peer.no_certificate", "peer.ca_certificate", "peer.no_spiffe_id",
// "peer.multiple_spiffe_ids", "peer.trust_domain", or the parser's "spiffe.*".
Result<SpiffeId> peerSpiffeId(X509* leaf, std::string_view trust_domain);

}  // namespace peergate::identity
