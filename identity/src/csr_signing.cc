// signWorkloadCsr (declared in issuer.h): what the CA endpoint runs once it knows who is asking.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "openssl_error.h"
#include "peergate/identity/csr.h"
#include "peergate/identity/issuer.h"

namespace peergate::identity {
namespace {

using detail::failure;

constexpr std::size_t kMaxQuoted = 120;

struct ExtensionsFree {
  void operator()(STACK_OF(X509_EXTENSION) * extensions) const {
    sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
  }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct BasicConstraintsFree {
  void operator()(BASIC_CONSTRAINTS* constraints) const { BASIC_CONSTRAINTS_free(constraints); }
};

std::string quoted(std::string text) {
  if (text.size() > kMaxQuoted) text = text.substr(0, kMaxQuoted) + "...";
  return "\"" + text + "\"";
}

std::string ia5Text(const ASN1_IA5STRING* text) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<std::size_t>(ASN1_STRING_length(text)));
}

// Only URI names may be requested; anything else is named in the refusal.
std::optional<std::string> foreignName(const GENERAL_NAME* name) {
  switch (name->type) {
    case GEN_URI:
      return std::nullopt;
    case GEN_DNS:
      return "a DNS name " + quoted(ia5Text(name->d.dNSName));
    case GEN_EMAIL:
      return "an email address " + quoted(ia5Text(name->d.rfc822Name));
    case GEN_IPADD:
      return std::string("an IP address");
    default:
      return std::string("a subjectAltName of type ") + std::to_string(name->type);
  }
}

// Collects the requested URI SANs; refuses any other SAN and any CA request.
struct RequestedIdentity {
  std::vector<std::string> uris;
  int san_extensions = 0;
};

Result<Done> readSan(X509_EXTENSION* extension, RequestedIdentity& requested) {
  ++requested.san_extensions;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(
      static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(extension)));
  if (!names) return failure("csr.san", "the CSR's subjectAltName cannot be decoded");
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (auto foreign = foreignName(name)) {
      return failure("csr.san", "the CSR asks for " + *foreign +
                                    "; a workload certificate carries only its SPIFFE ID");
    }
    requested.uris.push_back(ia5Text(name->d.uniformResourceIdentifier));
  }
  return Done{};
}

Result<Done> readBasicConstraints(X509_EXTENSION* extension) {
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsFree> constraints(
      static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(extension)));
  if (!constraints) return failure("csr.ca", "the CSR's basicConstraints cannot be decoded");
  if (constraints->ca != 0) {
    return failure("csr.ca", "the CSR asks for a CA certificate (basicConstraints CA:TRUE)");
  }
  return Done{};
}

Result<RequestedIdentity> readRequest(X509_REQ* csr) {
  std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionsFree> extensions(
      X509_REQ_get_extensions(csr));
  ERR_clear_error();  // a CSR without an extension request leaves "not found" in the queue
  RequestedIdentity requested;
  for (int i = 0; extensions && i < sk_X509_EXTENSION_num(extensions.get()); ++i) {
    X509_EXTENSION* extension = sk_X509_EXTENSION_value(extensions.get(), i);
    const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(extension));
    Result<Done> read = Done{};
    if (nid == NID_subject_alt_name) read = readSan(extension, requested);
    if (nid == NID_basic_constraints) read = readBasicConstraints(extension);
    if (!read) return read.error();
  }
  if (requested.san_extensions > 1) {
    return failure("csr.san", "the CSR has more than one subjectAltName extension");
  }
  return requested;
}

Result<Done> checkIdentity(const RequestedIdentity& requested, const SpiffeId& expected) {
  const std::string want = expected.uri();
  if (requested.uris.empty()) {
    return failure("csr.identity", "the CSR asks for no SPIFFE ID; it must ask for exactly " +
                                       want + " as its only URI SAN");
  }
  if (requested.uris.size() > 1) {
    return failure("csr.identity", "the CSR asks for " + std::to_string(requested.uris.size()) +
                                       " URI SANs; it must ask for exactly " + want);
  }
  if (requested.uris.front() != want) {
    return failure("csr.identity", "the CSR asks for " + quoted(requested.uris.front()) +
                                       ", but the caller's identity is " + want);
  }
  return Done{};
}

Result<Done> checkRequest(X509_REQ* csr, EVP_PKEY* key, const SpiffeId& expected) {
  if (X509_REQ_verify(csr, key) != 1) {
    ERR_clear_error();
    return failure("csr.signature",
                   "the CSR's signature does not verify with the public key it carries (it was "
                   "altered, or not signed by that key)");
  }
  Result<Done> acceptable = checkAcceptableKey(key);
  if (!acceptable) return acceptable;
  Result<RequestedIdentity> requested = readRequest(csr);
  if (!requested) return requested.error();
  return checkIdentity(requested.value(), expected);
}

}  // namespace

Result<CertPtr> signWorkloadCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                const SpiffeId& expected, const IssueOptions& options) {
  Result<CsrPtr> csr = parseCsrPem(csr_pem);
  if (!csr) return csr.error();
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.value().get());
  if (key == nullptr) {
    ERR_clear_error();
    return failure("csr.parse", "the CSR's public key cannot be read");
  }
  Result<Done> checked = checkRequest(csr.value().get(), key, expected);
  if (!checked) return checked.error();
  return issueWorkloadCert(ca, key, expected, options);
}

}  // namespace peergate::identity
