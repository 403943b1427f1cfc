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

// identity::peerSpiffeId (one spiffe://<td>/ns/<ns>/sa/<sa> URI SAN in `trust_domain`, not a
// CA), its error codes turned into the short reasons the handshake-failure metric uses.
LeafIdentity checkLeafIdentity(X509* leaf, const std::string& trust_domain);

// The certificate's spiffe:// URI SAN when it has exactly one, else "" (for our own cert's logs).
std::string soleSpiffeUri(X509* cert);

}  // namespace peergate::proxy
