#include "peergate/identity/csr.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert_builder.h"
#include "memory_bio.h"
#include "openssl_error.h"

namespace peergate::identity {
namespace {

struct ExtensionsFree {
  void operator()(STACK_OF(X509_EXTENSION) * extensions) const {
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  }
};

// The requested SAN is critical for the same reason as in the issued leaf: the subject is empty.
bool requestIdentity(X509_REQ* csr, const SpiffeId& id) {
  std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionsFree> extensions(
      sk_X509_EXTENSION_new_null());
  X509_EXTENSION* san = detail::subjectAltNameExtension({{GEN_URI, id.uri()}}, true);
  if (!extensions || san == nullptr || sk_X509_EXTENSION_push(extensions.get(), san) == 0) {
    X509_EXTENSION_free(san);
    return false;
  }
  return X509_REQ_add_extensions(csr, extensions.get()) == 1;
}

}  // namespace

Result<CsrPtr> makeWorkloadCsr(EVP_PKEY* key, const SpiffeId& id) {
  Result<SpiffeId> checked = parseSpiffeId(id.uri());
  if (!checked) return checked.error();
  CsrPtr csr(X509_REQ_new());
  if (!csr || X509_REQ_set_version(csr.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_pubkey(csr.get(), key) != 1 || !requestIdentity(csr.get(), id) ||
      X509_REQ_sign(csr.get(), key, EVP_sha256()) <= 0) {
    return detail::opensslFailure("csr.create", "cannot create the CSR for " + id.uri());
  }
  return csr;
}

Result<std::string> csrPem(X509_REQ* csr) {
  detail::BioPtr bio = detail::writeBio();
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), csr) != 1) {
    return detail::opensslFailure("csr.encode", "cannot encode the CSR as PEM");
  }
  return detail::bioText(bio.get());
}

Result<CsrPtr> parseCsrPem(std::string_view pem) {
  detail::BioPtr bio = detail::readBio(pem);
  CsrPtr csr(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!csr) return detail::opensslFailure("csr.parse", "no PEM certificate request");
  return csr;
}

}  // namespace peergate::identity
