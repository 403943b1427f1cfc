#include "peergate/identity/ca.h"

#include <filesystem>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cert_builder.h"
#include "openssl_error.h"
#include "peergate/identity/issuer.h"
#include "peergate/identity/secure_file.h"

namespace peergate::identity {
namespace {

using detail::failure;

constexpr const char* kRootOrganization = "peergate";
constexpr const char* kRootCommonName = "peergate root CA";

// The root signs leaves directly, never an intermediate: pathlen:0 makes a leaf that somehow got
// CA:TRUE useless for signing further certificates.
Result<Done> addRootProfile(X509* cert) {
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                                   std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    Result<Done> added = detail::addExtension(cert, nullptr, nid, value);
    if (!added) return added;
  }
  return Done{};
}

Result<CertPtr> rootCertificate(EVP_PKEY* key, const RootOptions& options, Clock::time_point now) {
  Result<CertPtr> cert =
      detail::newCertificate(key, {now - kClockSkewAllowance, now + options.ttl});
  if (!cert) return cert;
  X509* raw = cert.value().get();
  Result<Done> step = detail::addSubjectEntry(raw, "O", kRootOrganization);
  if (step) step = detail::addSubjectEntry(raw, "CN", kRootCommonName);
  if (step) step = addRootProfile(raw);
  if (step) step = detail::signCertificate(raw, nullptr, key);
  if (!step) return step.error();
  return cert;
}

std::string inFile(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

Error prefixed(Error error, const std::string& file) {
  error.file = file;
  error.message = file + ": " + error.message;
  return error;
}

}  // namespace

Result<CertificateAuthority> createRootCa(const RootOptions& options, Clock::time_point now) {
  if (options.ttl <= std::chrono::seconds::zero()) {
    return failure("ca.ttl", "the CA's lifetime must be positive");
  }
  Result<KeyPtr> key = generateKey(options.key_type);
  if (!key) return key.error();
  Result<CertPtr> cert = rootCertificate(key.value().get(), options, now);
  if (!cert) return cert.error();
  return CertificateAuthority{std::move(cert).value(), std::move(key).value()};
}

Result<CertificateAuthority> parseCa(std::string_view cert_pem, std::string_view key_pem) {
  Result<CertPtr> cert = parseCertificatePem(cert_pem);
  if (!cert) return cert.error();
  Result<KeyPtr> key = parsePrivateKeyPem(key_pem);
  if (!key) return key.error();
  // 1 is "CA:TRUE with keyCertSign when keyUsage is present"; 3-5 are legacy forms we refuse.
  if (X509_check_ca(cert.value().get()) != 1) {
    return failure("ca.not_ca",
                   "the certificate is not a CA (it needs basicConstraints CA:TRUE and keyUsage "
                   "keyCertSign); subject " +
                       subjectText(cert.value().get()));
  }
  if (X509_check_private_key(cert.value().get(), key.value().get()) != 1) {
    ERR_clear_error();
    return failure("ca.key_mismatch", "the private key is not the CA certificate's key");
  }
  return CertificateAuthority{std::move(cert).value(), std::move(key).value()};
}

Result<CertificateAuthority> loadCa(const std::string& dir) {
  const std::string cert_file = inFile(dir, kCaCertFile);
  const std::string key_file = inFile(dir, kCaKeyFile);
  Result<std::string> cert_pem = readWholeFile(cert_file);
  if (!cert_pem) return cert_pem.error();
  Result<std::string> key_pem = readWholeFile(key_file);
  if (!key_pem) return key_pem.error();
  Result<CertificateAuthority> ca = parseCa(cert_pem.value(), key_pem.value());
  if (ca) return ca;
  const bool key_problem =
      ca.error().code.starts_with("key.") || ca.error().code == "ca.key_mismatch";
  return prefixed(ca.error(), key_problem ? key_file : cert_file);
}

}  // namespace peergate::identity
