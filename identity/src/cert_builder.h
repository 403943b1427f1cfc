#pragma once

// The steps every certificate we issue shares (version, serial, validity, extensions,
// signature), so the root, workload and serving certificates differ only in their profile.
// Private to identity/.

#include <string>
#include <vector>

#include <openssl/x509v3.h>

#include "peergate/identity/certificate.h"
#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"

namespace peergate::identity::detail {

struct ValidityWindow {
  Clock::time_point not_before;
  Clock::time_point not_after;
};

// A v3 certificate for `subject_key`'s public half, with a random positive 128-bit serial
// (unpredictable, as CAs must since the MD5 collision attacks) and the validity window.
Result<CertPtr> newCertificate(EVP_PKEY* subject_key, const ValidityWindow& window);

// Appends one entry (e.g. "O", "peergate") to the subject name.
Result<Done> addSubjectEntry(X509* cert, const char* field, const std::string& value);

// Adds an extension from OpenSSL's config syntax ("critical,CA:FALSE", "hash", "keyid:always").
// `issuer` is the signing certificate, or null for a self-signed one.
Result<Done> addExtension(X509* cert, X509* issuer, int nid, const std::string& value);

struct AltName {
  int type;  // GEN_URI, GEN_DNS or GEN_IPADD
  std::string value;
};
// The subjectAltName extension, built from typed values rather than config text, so a name with
// a ',' can never smuggle in a second SAN.
Result<Done> addSubjectAltNames(X509* cert, const std::vector<AltName>& names, bool critical);
// The same extension on its own (for a CSR); null on failure. The caller frees it.
X509_EXTENSION* subjectAltNameExtension(const std::vector<AltName>& names, bool critical);

// Sets the issuer name and signs with SHA-256. `issuer` null: self-signed.
Result<Done> signCertificate(X509* cert, X509* issuer, EVP_PKEY* issuer_key);

}  // namespace peergate::identity::detail
