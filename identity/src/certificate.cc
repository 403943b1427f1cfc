#include "peergate/identity/certificate.h"

#include <ctime>

#include <openssl/bn.h>
#include <openssl/pem.h>

#include "memory_bio.h"
#include "openssl_error.h"

namespace peergate::identity {

Result<std::string> certificatePem(X509* cert) {
  detail::BioPtr bio = detail::writeBio();
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return detail::opensslFailure("cert.encode", "cannot encode the certificate as PEM");
  }
  return detail::bioText(bio.get());
}

Result<CertPtr> parseCertificatePem(std::string_view pem) {
  detail::BioPtr bio = detail::readBio(pem);
  CertPtr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return detail::opensslFailure("cert.parse", "no PEM certificate");
  return cert;
}

namespace {

Clock::time_point toTimePoint(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return {};
  return Clock::from_time_t(timegm(&tm));
}

}  // namespace

Validity validityOf(const X509* cert) {
  return {toTimePoint(X509_get0_notBefore(cert)), toTimePoint(X509_get0_notAfter(cert))};
}

std::string serialHex(const X509* cert) {
  BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (number == nullptr) return "";
  char* hex = BN_bn2hex(number);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(number);
  return text;
}

std::string subjectText(const X509* cert) {
  detail::BioPtr bio = detail::writeBio();
  if (!bio) return "";
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  return detail::bioText(bio.get());
}

std::string isoTime(Clock::time_point time) {
  const std::time_t t = Clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

}  // namespace peergate::identity
