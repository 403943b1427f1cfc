#pragma once

// Certificate signing requests as the proxy sends them to the CA: its own key, asking for its
// SPIFFE identity, so the private key never leaves the pod.

#include <string>
#include <string_view>

#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"
#include "peergate/identity/spiffe.h"

namespace peergate::identity {

// A CSR signed by `key` with an empty subject and one requested extension: a critical URI SAN
// with id.uri(). Error codes "spiffe.*" (a malformed id), "csr.create".
Result<CsrPtr> makeWorkloadCsr(EVP_PKEY* key, const SpiffeId& id);

Result<std::string> csrPem(X509_REQ* csr);
// The first CSR in `pem` ("BEGIN CERTIFICATE REQUEST"). Error code "csr.parse".
Result<CsrPtr> parseCsrPem(std::string_view pem);

}  // namespace peergate::identity
