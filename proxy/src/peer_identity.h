#pragma once

#include <string>

#include <openssl/x509.h>

namespace peergate::proxy {

// The identity a verified leaf certificate carries, or why it carries none we accept.
struct LeafIdentity {
  std::string spiffe_id;  // set when accepted
  std::string failure;    // metric reason otherwise: "ca_leaf", "no_spiffe_id",
                          // "multiple_spiffe_ids", "invalid_spiffe_id", "wrong_trust_domain"
};

// A workload leaf must not be a CA and must carry exactly one spiffe:// URI SAN, well formed
// and in `trust_domain`.
// TODO(identity): replace with identity/include/peergate/identity/spiffe.h (parseSpiffeId,
// peerSpiffeId(X509*, trust_domain)) once the identity library (branch helper-certs) lands.
LeafIdentity checkLeafIdentity(X509* leaf, const std::string& trust_domain);

// The certificate's spiffe:// URI SAN when it has exactly one, else "" (for our own cert's logs).
std::string soleSpiffeUri(X509* cert);

// True when `id` is spiffe://TRUST-DOMAIN/PATH with a valid trust domain and path.
bool isValidSpiffeId(const std::string& id);

}  // namespace peergate::proxy
