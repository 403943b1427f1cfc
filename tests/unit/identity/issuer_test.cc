// Workload and serving leaves: their profile, their lifetime, and that they verify (in-process
// with X509_verify_cert in strict mode, for the purposes they are meant for and no other).

#include "peergate/identity/issuer.h"

#include <chrono>

#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include "identity_fixtures.h"

namespace peergate::identity {
namespace {

using namespace std::chrono_literals;
using testing::verifyChain;
using testing::verifyErrorText;

const Clock::time_point kNow = Clock::from_time_t(1'790'000'000);
const SpiffeId kHttpbin{"cluster.local", "foo", "httpbin"};

CertificateAuthority makeCa(std::chrono::seconds ttl = 87600h, Clock::time_point at = kNow) {
  return createRootCa({KeyType::EcdsaP256, ttl}, at).value();
}

KeyPtr makeKey(KeyType type = KeyType::EcdsaP256) { return generateKey(type).value(); }

CertPtr workload(const CertificateAuthority& ca, EVP_PKEY* key, IssueOptions options = {kNow}) {
  Result<CertPtr> cert = issueWorkloadCert(ca, key, kHttpbin, options);
  INFO((cert ? "" : cert.error().message));
  REQUIRE(cert.ok());
  return std::move(cert).value();
}

bool sanIsCritical(X509* cert) {
  const int index = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

bool sameKeyId(const ASN1_OCTET_STRING* a, const ASN1_OCTET_STRING* b) {
  return a != nullptr && b != nullptr && ASN1_OCTET_STRING_cmp(a, b) == 0;
}

TEST_CASE("issues a workload leaf with the SPIFFE profile", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const CertPtr cert = workload(ca, key.get());
  X509* leaf = cert.get();
  CHECK(uriSans(leaf) == std::vector<std::string>{"spiffe://cluster.local/ns/foo/sa/httpbin"});
  CHECK(subjectText(leaf).empty());
  CHECK(sanIsCritical(leaf));
  CHECK(X509_check_ca(leaf) == 0);
  CHECK((X509_get_extension_flags(leaf) & EXFLAG_BCONS) != 0);  // CA:FALSE is explicit
  CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(leaf) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(sameKeyId(X509_get0_authority_key_id(leaf), X509_get0_subject_key_id(ca.cert.get())));
  CHECK(X509_get0_subject_key_id(leaf) != nullptr);
  CHECK(X509_check_private_key(leaf, key.get()) == 1);
  CHECK(validityOf(leaf).not_before == kNow - 5min);
  CHECK(validityOf(leaf).not_after == kNow + 24h);
  CHECK(peerSpiffeId(leaf, "cluster.local").value() == kHttpbin);
}

TEST_CASE("a workload leaf verifies as TLS client and server in strict mode", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const CertPtr leaf = workload(ca, key.get());
  const time_t at = Clock::to_time_t(kNow);
  const int purpose = GENERATE(X509_PURPOSE_SSL_CLIENT, X509_PURPOSE_SSL_SERVER);
  CAPTURE(purpose);
  const int verified = verifyChain(ca.cert.get(), leaf.get(), purpose, at);
  INFO(verifyErrorText(verified));
  CHECK(verified == X509_V_OK);
}

TEST_CASE("a workload leaf does not verify outside its lifetime or under another root",
          "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const CertificateAuthority other = makeCa();
  const KeyPtr key = makeKey();
  const CertPtr leaf = workload(ca, key.get());
  const int client = X509_PURPOSE_SSL_CLIENT;
  // Backdated by 5 minutes for clock skew, not more.
  CHECK(verifyChain(ca.cert.get(), leaf.get(), client, Clock::to_time_t(kNow - 4min)) == X509_V_OK);
  CHECK(verifyChain(ca.cert.get(), leaf.get(), client, Clock::to_time_t(kNow - 6min)) ==
        X509_V_ERR_CERT_NOT_YET_VALID);
  CHECK(verifyChain(ca.cert.get(), leaf.get(), client, Clock::to_time_t(kNow + 24h + 1s)) ==
        X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK(verifyChain(other.cert.get(), leaf.get(), client, Clock::to_time_t(kNow)) ==
        X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_CASE("an RSA workload key also gets keyEncipherment", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey(KeyType::Rsa2048);
  const CertPtr leaf = workload(ca, key.get());
  CHECK(X509_get_key_usage(leaf.get()) == (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  CHECK(verifyChain(ca.cert.get(), leaf.get(), X509_PURPOSE_SSL_SERVER, Clock::to_time_t(kNow)) ==
        X509_V_OK);
}

TEST_CASE("a leaf never outlives its CA", "[identity][issue]") {
  const CertificateAuthority ca = makeCa(48h);
  const KeyPtr key = makeKey();
  const CertPtr leaf = workload(ca, key.get(), {kNow + 1h, 8760h});
  CHECK(validityOf(leaf.get()).not_after == validityOf(ca.cert.get()).not_after);
  CHECK(validityOf(leaf.get()).not_after == kNow + 48h);
}

TEST_CASE("a leaf does not start before its CA", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  // Issued one minute after the CA's notBefore: backdating stops there.
  const CertPtr leaf = workload(ca, key.get(), {kNow - 4min, 24h});
  CHECK(validityOf(leaf.get()).not_before == validityOf(ca.cert.get()).not_before);
}

TEST_CASE("refuses to issue from an expired or not yet valid CA, or for no lifetime",
          "[identity][issue]") {
  const CertificateAuthority ca = makeCa(48h);
  const KeyPtr key = makeKey();
  const auto [now, ttl, code, fragment] =
      GENERATE(table<Clock::time_point, std::chrono::seconds, std::string, std::string>({
          {kNow + 48h, 24h, "issue.ca_expired", "the CA expired at 2026-09-23T14:13:20Z"},
          {kNow - 1h, 24h, "issue.ca_not_yet_valid", "check this machine's clock"},
          {kNow, 0s, "issue.ttl", "must be positive"},
      }));
  const Result<CertPtr> cert = issueWorkloadCert(ca, key.get(), kHttpbin, {now, ttl});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == code);
  CHECK_THAT(cert.error().message, Catch::Contains(fragment));
}

TEST_CASE("refuses to put a malformed SPIFFE ID in a certificate", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const Result<CertPtr> cert =
      issueWorkloadCert(ca, key.get(), {"cluster.local", "foo,DNS:evil", "bar"}, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == "spiffe.namespace");
}

TEST_CASE("refuses weak or unsupported subject keys", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const auto [algorithm, code] = GENERATE(table<std::string, std::string>({
      {"RSA", "key.weak"},
      {"ED25519", "key.unsupported"},
  }));
  KeyPtr key(algorithm == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024})
                                : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  REQUIRE(key != nullptr);
  const Result<CertPtr> cert = issueWorkloadCert(ca, key.get(), kHttpbin, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == code);
}

TEST_CASE("issues a serving certificate for DNS names and IPs", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const ServingNames names{{"peergate.peergate-system.svc", "localhost"}, {"127.0.0.1", "::1"}};
  const Result<CertPtr> issued = issueServingCert(ca, key.get(), names, {kNow, 8760h});
  REQUIRE(issued.ok());
  X509* cert = issued.value().get();
  CHECK(subjectText(cert) == "CN=peergate.peergate-system.svc");
  CHECK_FALSE(sanIsCritical(cert));
  CHECK(uriSans(cert).empty());
  CHECK(X509_get_extended_key_usage(cert) == XKU_SSL_SERVER);
  CHECK(X509_check_ca(cert) == 0);
  CHECK(X509_check_host(cert, "peergate.peergate-system.svc", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert, "localhost", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(cert, "evil.example", 0, 0, nullptr) == 0);
  CHECK(X509_check_ip_asc(cert, "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(cert, "::1", 0) == 1);
  const time_t at = Clock::to_time_t(kNow);
  CHECK(verifyChain(ca.cert.get(), cert, X509_PURPOSE_SSL_SERVER, at) == X509_V_OK);
  // serverAuth only: it cannot be used as a client certificate.
  CHECK(verifyChain(ca.cert.get(), cert, X509_PURPOSE_SSL_CLIENT, at) ==
        X509_V_ERR_INVALID_PURPOSE);
}

TEST_CASE("refuses serving names that are not DNS names or IP addresses", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const auto [dns, ip, code, fragment] =
      GENERATE(table<std::string, std::string, std::string, std::string>({
          {"", "", "serving.names", "at least one DNS name or IP"},
          {"a,DNS:evil.example", "", "serving.dns_name", "has ','"},
          {"-a.example", "", "serving.dns_name", "starts or ends with '-'"},
          {"a..example", "", "serving.dns_name", "empty label"},
          {"a.example.", "", "serving.dns_name", "empty label"},
          {"*.com", "", "serving.dns_name", "wildcard for a whole top-level domain"},
          {"10.0.0.1", "", "serving.dns_name", "is an IP address"},
          {std::string(64, 'a') + ".example", "", "serving.dns_name", "longer than 63"},
          {"", "10.0.0.256", "serving.ip_address", "is not an IPv4 or IPv6 address"},
          {"", "localhost", "serving.ip_address", "is not an IPv4 or IPv6 address"},
      }));
  CAPTURE(dns, ip);
  ServingNames names;
  if (!dns.empty()) names.dns.push_back(dns);
  if (!ip.empty()) names.ips.push_back(ip);
  const Result<CertPtr> cert = issueServingCert(ca, key.get(), names, {kNow});
  REQUIRE_FALSE(cert.ok());
  CHECK(cert.error().code == code);
  CHECK_THAT(cert.error().message, Catch::Contains(fragment));
}

TEST_CASE("accepts wildcard and long serving names", "[identity][issue]") {
  const CertificateAuthority ca = makeCa();
  const KeyPtr key = makeKey();
  const std::string long_name = std::string(60, 'a') + ".example.com";  // > 64: no CN
  const Result<CertPtr> cert =
      issueServingCert(ca, key.get(), {{long_name, "*.peergate.svc"}, {}}, {kNow});
  REQUIRE(cert.ok());
  CHECK(subjectText(cert.value().get()).empty());
  CHECK(sanIsCritical(cert.value().get()));
  CHECK(X509_check_host(cert.value().get(), "x.peergate.svc", 0, 0, nullptr) == 1);
  CHECK(verifyChain(ca.cert.get(), cert.value().get(), X509_PURPOSE_SSL_SERVER,
                    Clock::to_time_t(kNow)) == X509_V_OK);
}

}  // namespace
}  // namespace peergate::identity
