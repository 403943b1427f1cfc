// CSRs: the proxy's request for its identity, and the CA's signing step that issues exactly the
// identity the caller proved, whatever else the CSR asks for. Hostile CSRs are made with the
// openssl CLI so they do not depend on our own CSR builder.

#include "peergate/identity/csr.h"

#include <chrono>
#include <fstream>

#include <openssl/pem.h>
#include <catch2/catch.hpp>

#include "identity_fixtures.h"
#include "peergate/identity/issuer.h"

namespace peergate::identity {
namespace {

using namespace std::chrono_literals;
using testing::shell;
using testing::TempDir;

const Clock::time_point kNow = Clock::from_time_t(1'790'000'000);
const SpiffeId kCaller{"cluster.local", "foo", "httpbin"};

struct Fixture {
  CertificateAuthority ca = createRootCa({}, kNow).value();
  KeyPtr key = generateKey(KeyType::EcdsaP256).value();

  std::string csrFor(const SpiffeId& id) const {
    const CsrPtr csr = makeWorkloadCsr(key.get(), id).value();
    return csrPem(csr.get()).value();
  }
};

// `openssl req -new` with the given -addext arguments, signed by a fresh P-256 key.
std::string opensslCsr(const TempDir& dir, const std::string& addext) {
  const testing::CommandOutput made = shell(
      "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "
      "/CN=ignored -keyout '" +
      dir / "csr.key" + "' -out '" + dir / "csr.pem" + "' " + addext);
  INFO(made.output);
  REQUIRE(made.status == 0);
  return testing::readFile(dir / "csr.pem");
}

TEST_CASE("makes a CSR that asks for the SPIFFE ID and nothing else", "[identity][csr]") {
  Fixture fixture;
  const std::string pem = fixture.csrFor(kCaller);
  CHECK_THAT(pem, Catch::StartsWith("-----BEGIN CERTIFICATE REQUEST-----"));
  TempDir dir;
  std::ofstream(dir / "req.pem") << pem;
  // The openssl CLI reads it back, checks its signature and sees the one URI SAN.
  const testing::CommandOutput text =
      shell("openssl req -in '" + dir / "req.pem" + "' -noout -verify -text");
  INFO(text.output);
  REQUIRE(text.status == 0);
  CHECK_THAT(text.output, Catch::Contains("URI:spiffe://cluster.local/ns/foo/sa/httpbin"));
  CHECK_THAT(text.output, !Catch::Contains("DNS:"));
}

TEST_CASE("signs a CSR for the caller's identity with the caller's key", "[identity][csr]") {
  Fixture fixture;
  const Result<CertPtr> cert =
      signWorkloadCsr(fixture.ca, fixture.csrFor(kCaller), kCaller, {kNow, 12h});
  INFO((cert ? "" : cert.error().message));
  REQUIRE(cert.ok());
  X509* leaf = cert.value().get();
  CHECK(X509_check_private_key(leaf, fixture.key.get()) == 1);
  CHECK(peerSpiffeId(leaf, "cluster.local").value() == kCaller);
  CHECK(validityOf(leaf).not_after == kNow + 12h);
  CHECK(testing::verifyChain(fixture.ca.cert.get(), leaf, X509_PURPOSE_SSL_CLIENT,
                             Clock::to_time_t(kNow)) == X509_V_OK);

  // And the real openssl CLI agrees, from the files.
  TempDir dir;
  std::ofstream(dir / "ca.pem") << certificatePem(fixture.ca.cert.get()).value();
  std::ofstream(dir / "cert.pem") << certificatePem(leaf).value();
  const testing::CommandOutput verified =
      testing::opensslVerify(dir / "ca.pem", dir / "cert.pem", "sslclient", Clock::to_time_t(kNow));
  INFO(verified.output);
  CHECK(verified.status == 0);
  CHECK_THAT(verified.output, Catch::Contains(": OK"));
}

TEST_CASE("copies nothing but the key from a CSR", "[identity][csr]") {
  Fixture fixture;
  TempDir dir;
  // A subject and a keyUsage keyCertSign request: neither reaches the certificate.
  const std::string pem =
      opensslCsr(dir,
                 "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin' "
                 "-addext 'keyUsage=critical,keyCertSign,cRLSign'");
  const Result<CertPtr> cert = signWorkloadCsr(fixture.ca, pem, kCaller, {kNow});
  REQUIRE(cert.ok());
  CHECK(subjectText(cert.value().get()).empty());
  CHECK(X509_get_key_usage(cert.value().get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_check_ca(cert.value().get()) == 0);
}

TEST_CASE("refuses a CSR for another identity", "[identity][csr]") {
  Fixture fixture;
  const SpiffeId other{"cluster.local", "foo", "admin"};
  const Result<CertPtr> cert = signWorkloadCsr(fixture.ca, fixture.csrFor(other), kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "csr.identity");
  CHECK(cert.error().message ==
        "the CSR asks for \"spiffe://cluster.local/ns/foo/sa/admin\", but the caller's identity "
        "is spiffe://cluster.local/ns/foo/sa/httpbin");
}

TEST_CASE("refuses CSRs that ask for more or other than the caller's identity", "[identity][csr]") {
  const auto [addext, code, fragment] = GENERATE(table<std::string, std::string, std::string>({
      {"-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin,DNS:evil.example'",
       "csr.san", "the CSR asks for a DNS name \"evil.example\""},
      {"-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin,IP:10.0.0.1'",
       "csr.san", "the CSR asks for an IP address"},
      {"-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin,"
       "email:a@example.com'",
       "csr.san", "an email address \"a@example.com\""},
      {"-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin,"
       "URI:spiffe://cluster.local/ns/foo/sa/admin'",
       "csr.identity", "the CSR asks for 2 URI SANs; it must ask for exactly spiffe://"},
      {"-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin' "
       "-addext 'basicConstraints=critical,CA:TRUE'",
       "csr.ca", "asks for a CA certificate"},
      {"-addext 'subjectAltName=URI:spiffe://other.domain/ns/foo/sa/httpbin'", "csr.identity",
       "asks for \"spiffe://other.domain/ns/foo/sa/httpbin\""},
      {"", "csr.identity", "the CSR asks for no SPIFFE ID"},
  }));
  CAPTURE(addext);
  Fixture fixture;
  TempDir dir;
  const Result<CertPtr> cert =
      signWorkloadCsr(fixture.ca, opensslCsr(dir, addext), kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == code);
  CHECK_THAT(cert.error().message, Catch::Contains(fragment));
}

// The CSR's DER with its last byte (inside the signature) changed.
std::string tamperedSignature(const std::string& pem) {
  CsrPtr csr = parseCsrPem(pem).value();
  unsigned char* der = nullptr;
  const int length = i2d_X509_REQ(csr.get(), &der);
  REQUIRE(length > 0);
  der[length - 1] ^= 0x01;
  const unsigned char* cursor = der;
  CsrPtr tampered(d2i_X509_REQ(nullptr, &cursor, length));
  OPENSSL_free(der);
  REQUIRE(tampered != nullptr);
  return csrPem(tampered.get()).value();
}

TEST_CASE("refuses a CSR whose signature does not verify", "[identity][csr]") {
  Fixture fixture;
  const std::string tampered = tamperedSignature(fixture.csrFor(kCaller));
  Result<CertPtr> cert = signWorkloadCsr(fixture.ca, tampered, kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "csr.signature");
  CHECK_THAT(cert.error().message, Catch::Contains("does not verify with the public key"));

  // Someone else's public key in a CSR signed by ours: proof of possession fails.
  const CsrPtr csr = makeWorkloadCsr(fixture.key.get(), kCaller).value();
  const KeyPtr stranger = generateKey(KeyType::EcdsaP256).value();
  REQUIRE(X509_REQ_set_pubkey(csr.get(), stranger.get()) == 1);
  cert = signWorkloadCsr(fixture.ca, csrPem(csr.get()).value(), kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "csr.signature");
}

TEST_CASE("refuses a CSR with a weak key or that is not a CSR", "[identity][csr]") {
  Fixture fixture;
  const KeyPtr weak(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
  REQUIRE(weak != nullptr);
  const CsrPtr csr = makeWorkloadCsr(weak.get(), kCaller).value();
  Result<CertPtr> cert = signWorkloadCsr(fixture.ca, csrPem(csr.get()).value(), kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "key.weak");
  CHECK_THAT(cert.error().message, Catch::Contains("RSA key of 1024 bits"));

  cert =
      signWorkloadCsr(fixture.ca, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", kCaller, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "csr.parse");
}

}  // namespace
}  // namespace peergate::identity
