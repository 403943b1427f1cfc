#pragma once

// Owning handles for the OpenSSL objects the identity API passes around, so no path (early
// return, error) leaks a key or a certificate.

#include <memory>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace peergate::identity {

struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct X509ReqFree {
  void operator()(X509_REQ* csr) const { X509_REQ_free(csr); }
};

using KeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;
using CertPtr = std::unique_ptr<X509, X509Free>;
using CsrPtr = std::unique_ptr<X509_REQ, X509ReqFree>;

}  // namespace peergate::identity
