#include "cert_builder.h"

#include <memory>

#include <openssl/bn.h>
#include <openssl/rand.h>

#include "openssl_error.h"

namespace peergate::identity::detail {
namespace {

constexpr int kSerialBytes = 16;  // 128 bits

struct BnFree {
  void operator()(BIGNUM* number) const { BN_free(number); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* names) const { GENERAL_NAMES_free(names); }
};
struct GeneralNameFree {
  void operator()(GENERAL_NAME* name) const { GENERAL_NAME_free(name); }
};

Result<Done> setRandomSerial(X509* cert) {
  unsigned char bytes[kSerialBytes];
  std::unique_ptr<BIGNUM, BnFree> number;
  do {  // a zero serial is invalid (RFC 5280); with 128 random bits this loop runs once
    if (RAND_bytes(bytes, sizeof bytes) != 1) return opensslFailure("issue.serial", "RAND_bytes");
    number.reset(BN_bin2bn(bytes, sizeof bytes, nullptr));
    if (!number) return opensslFailure("issue.serial", "BN_bin2bn");
  } while (BN_is_zero(number.get()));
  if (BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert)) == nullptr) {
    return opensslFailure("issue.serial", "cannot set the serial number");
  }
  return Done{};
}

bool setTime(ASN1_TIME* field, Clock::time_point time) {
  return ASN1_TIME_set(field, Clock::to_time_t(time)) != nullptr;
}

std::unique_ptr<GENERAL_NAME, GeneralNameFree> makeName(const AltName& alt) {
  std::unique_ptr<GENERAL_NAME, GeneralNameFree> name(GENERAL_NAME_new());
  if (!name) return nullptr;
  if (alt.type == GEN_IPADD) {
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(alt.value.c_str());
    if (address == nullptr) return nullptr;
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
    return name;
  }
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (text == nullptr ||
      ASN1_STRING_set(text, alt.value.data(), static_cast<int>(alt.value.size())) != 1) {
    ASN1_IA5STRING_free(text);
    return nullptr;
  }
  GENERAL_NAME_set0_value(name.get(), alt.type, text);
  return name;
}

}  // namespace

Result<CertPtr> newCertificate(EVP_PKEY* subject_key, const ValidityWindow& window) {
  CertPtr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return opensslFailure("issue.create", "cannot create a certificate");
  }
  Result<Done> serial = setRandomSerial(cert.get());
  if (!serial) return serial.error();
  if (!setTime(X509_getm_notBefore(cert.get()), window.not_before) ||
      !setTime(X509_getm_notAfter(cert.get()), window.not_after) ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return opensslFailure("issue.create", "cannot set the validity or the public key");
  }
  return cert;
}

Result<Done> addSubjectEntry(X509* cert, const char* field, const std::string& value) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.c_str()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return opensslFailure("issue.subject", std::string("cannot set the subject's ") + field);
  }
  return Done{};
}

Result<Done> addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  const bool added = extension != nullptr && X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  if (!added) {
    return opensslFailure("issue.extension",
                          std::string("cannot add ") + OBJ_nid2sn(nid) + " = " + value);
  }
  return Done{};
}

X509_EXTENSION* subjectAltNameExtension(const std::vector<AltName>& names, bool critical) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> list(sk_GENERAL_NAME_new_null());
  if (!list) return nullptr;
  for (const AltName& alt : names) {
    std::unique_ptr<GENERAL_NAME, GeneralNameFree> name = makeName(alt);
    if (!name || sk_GENERAL_NAME_push(list.get(), name.get()) == 0) return nullptr;
    name.release();  // owned by the list now
  }
  return X509V3_EXT_i2d(NID_subject_alt_name, critical ? 1 : 0, list.get());
}

Result<Done> addSubjectAltNames(X509* cert, const std::vector<AltName>& names, bool critical) {
  X509_EXTENSION* extension = subjectAltNameExtension(names, critical);
  const bool added = extension != nullptr && X509_add_ext(cert, extension, -1) == 1;
  X509_EXTENSION_free(extension);
  if (!added) return opensslFailure("issue.san", "cannot add the subjectAltName");
  return Done{};
}

Result<Done> signCertificate(X509* cert, X509* issuer, EVP_PKEY* issuer_key) {
  X509_NAME* issuer_name = X509_get_subject_name(issuer != nullptr ? issuer : cert);
  if (X509_set_issuer_name(cert, issuer_name) != 1 ||
      X509_sign(cert, issuer_key, EVP_sha256()) <= 0) {
    return opensslFailure("issue.sign", "cannot sign the certificate");
  }
  return Done{};
}

}  // namespace peergate::identity::detail
