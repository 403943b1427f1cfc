// The root CA: its profile, and loading one back with the checks that keep a wrong file from
// becoming a signing key.

#include "peergate/identity/ca.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include "identity_fixtures.h"
#include "peergate/identity/issuer.h"
#include "peergate/identity/secure_file.h"

namespace peergate::identity {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

// A fixed, whole-second instant: certificates store seconds.
const Clock::time_point kNow = Clock::from_time_t(1'790'000'000);

CertificateAuthority makeCa(KeyType type = KeyType::EcdsaP256, std::chrono::seconds ttl = 87600h) {
  Result<CertificateAuthority> ca = createRootCa({type, ttl}, kNow);
  INFO((ca ? "" : ca.error().message));
  REQUIRE(ca.ok());
  return std::move(ca).value();
}

std::string pem(X509* cert) { return certificatePem(cert).value(); }
std::string pem(EVP_PKEY* key) { return privateKeyPem(key).value(); }

TEST_CASE("creates a self-signed root with the CA profile", "[identity][ca]") {
  const CertificateAuthority ca = makeCa();
  X509* cert = ca.cert.get();
  CHECK(subjectText(cert) == "CN=peergate root CA,O=peergate");
  CHECK(X509_check_ca(cert) == 1);
  CHECK(X509_get_pathlen(cert) == 0);
  CHECK((X509_get_extension_flags(cert) & EXFLAG_SS) != 0);
  CHECK(X509_get_key_usage(cert) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get0_subject_key_id(cert) != nullptr);
  CHECK(X509_verify(cert, X509_get0_pubkey(cert)) == 1);
  CHECK(describeKey(ca.key.get()) == "ECDSA P-256");
  const Validity validity = validityOf(cert);
  CHECK(validity.not_before == kNow - 5min);
  CHECK(validity.not_after == kNow + 87600h);
  // The root verifies as its own chain, as every trust store will use it.
  CHECK(testing::verifyChain(cert, cert, X509_PURPOSE_ANY, Clock::to_time_t(kNow)) == X509_V_OK);
}

TEST_CASE("creates RSA roots on request", "[identity][ca]") {
  const CertificateAuthority ca = makeCa(KeyType::Rsa3072, 24h);
  CHECK(describeKey(ca.key.get()) == "RSA 3072");
  CHECK(X509_get_signature_nid(ca.cert.get()) == NID_sha256WithRSAEncryption);
}

TEST_CASE("gives every root a different random 128-bit serial", "[identity][ca]") {
  const CertificateAuthority first = makeCa();
  const CertificateAuthority second = makeCa();
  CHECK(serialHex(first.cert.get()) != serialHex(second.cert.get()));
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(first.cert.get()), nullptr);
  REQUIRE(serial != nullptr);
  // 128 random bits: fewer than 100 significant bits has a probability of 2^-28.
  CHECK(BN_num_bits(serial) > 100);
  CHECK(BN_num_bits(serial) <= 128);
  BN_free(serial);
}

TEST_CASE("refuses a CA lifetime that is not positive", "[identity][ca]") {
  const Result<CertificateAuthority> ca = createRootCa({KeyType::EcdsaP256, 0s}, kNow);
  REQUIRE_FALSE(ca.ok());
  CHECK(ca.error().code == "ca.ttl");
}

TEST_CASE("loads a CA directory written by the library", "[identity][ca]") {
  const CertificateAuthority ca = makeCa();
  TempDir dir;
  REQUIRE(
      writeFileAtomically(dir / "ca.pem", pem(ca.cert.get()), FileMode::Public, Overwrite::Refuse));
  REQUIRE(writeFileAtomically(dir / "ca-key.pem", pem(ca.key.get()), FileMode::Private,
                              Overwrite::Refuse));
  const Result<CertificateAuthority> loaded = loadCa(dir.path().string());
  REQUIRE(loaded.ok());
  CHECK(serialHex(loaded.value().cert.get()) == serialHex(ca.cert.get()));
  CHECK(EVP_PKEY_eq(loaded.value().key.get(), ca.key.get()) == 1);
}

TEST_CASE("refuses a CA whose key is not the certificate's", "[identity][ca]") {
  const CertificateAuthority ca = makeCa();
  const CertificateAuthority other = makeCa();
  TempDir dir;
  std::ofstream(dir / "ca.pem") << pem(ca.cert.get());
  std::ofstream(dir / "ca-key.pem") << pem(other.key.get());
  const Result<CertificateAuthority> loaded = loadCa(dir.path().string());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == "ca.key_mismatch");
  CHECK(loaded.error().message ==
        dir / "ca-key.pem" + ": the private key is not the CA certificate's key");
}

TEST_CASE("refuses a leaf certificate as a CA", "[identity][ca]") {
  const CertificateAuthority ca = makeCa();
  KeyPtr leaf_key = generateKey(KeyType::EcdsaP256).value();
  const CertPtr leaf =
      issueWorkloadCert(ca, leaf_key.get(), {"cluster.local", "foo", "bar"}, {kNow, 24h}).value();
  const Result<CertificateAuthority> loaded = parseCa(pem(leaf.get()), pem(leaf_key.get()));
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == "ca.not_ca");
  CHECK_THAT(loaded.error().message, Catch::Contains("basicConstraints CA:TRUE"));
}

TEST_CASE("names the file when a CA directory is incomplete or unreadable", "[identity][ca]") {
  TempDir dir;
  Result<CertificateAuthority> loaded = loadCa(dir.path().string());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == "file.read");
  CHECK_THAT(loaded.error().message, Catch::Contains(dir / "ca.pem"));

  std::ofstream(dir / "ca.pem") << "not a certificate\n";
  std::ofstream(dir / "ca-key.pem") << "not a key\n";
  loaded = loadCa(dir.path().string());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == "cert.parse");
  CHECK_THAT(loaded.error().message, Catch::StartsWith(dir / "ca.pem" + ": no PEM certificate"));
}

}  // namespace
}  // namespace peergate::identity
