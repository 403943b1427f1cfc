#pragma once

// The mesh's root certificate authority: created once (`peergate certs ca`), then loaded by
// whatever issues certificates (`peergate certs issue|serving`, the webhook's CA endpoint).

#include <chrono>
#include <string>
#include <string_view>

#include "peergate/identity/certificate.h"
#include "peergate/identity/keys.h"
#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"

namespace peergate::identity {

// File names inside a CA directory.
inline constexpr const char* kCaCertFile = "ca.pem";
inline constexpr const char* kCaKeyFile = "ca-key.pem";

struct CertificateAuthority {
  CertPtr cert;
  KeyPtr key;
};

struct RootOptions {
  KeyType key_type = KeyType::EcdsaP256;
  std::chrono::seconds ttl = std::chrono::hours(24 * 365 * 10);
};

// A self-signed root: subject O=peergate, CN=peergate root CA; basicConstraints critical
// CA:TRUE, pathlen:0 (it signs workload and serving leaves directly, never intermediates);
// keyUsage critical keyCertSign, cRLSign; a subject key identifier; notBefore backdated 5
// minutes for clock skew; a random 128-bit serial. Error codes "ca.ttl", "key.generate",
// "issue.*" (OpenSSL failures building the certificate).
Result<CertificateAuthority> createRootCa(const RootOptions& options, Clock::time_point now);

// A CA from PEM texts: the certificate must be a CA (basicConstraints CA:TRUE and, when keyUsage
// is present, keyCertSign) and the key must be its key. Error codes "cert.parse", "key.parse",
// "ca.not_ca", "ca.key_mismatch".
Result<CertificateAuthority> parseCa(std::string_view cert_pem, std::string_view key_pem);

// parseCa of DIR/ca.pem and DIR/ca-key.pem; errors name the file ("file.read" when unreadable).
Result<CertificateAuthority> loadCa(const std::string& dir);

}  // namespace peergate::identity
