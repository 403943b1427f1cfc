// `peergate certs`, driven in-process; every file it writes is checked with the real openssl
// CLI (verify, x509 -ext) as well as in-process, and the serving pair is loaded by the
// webhook's own certificate reloader.

#include <sys/stat.h>

#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include "../identity/identity_fixtures.h"
#include "peergate/cli/run.h"
#include "peergate/identity/certificate.h"
#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/metrics.h"

namespace peergate::cli {
namespace {

namespace it = peergate::identity::testing;
using it::readFile;
using it::shell;
using it::TempDir;

struct Ran {
  int code = 0;
  std::string out;
  std::string err;
};

Ran peergate(const std::vector<std::string>& args) {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  const int code = run(args, in, out, err);
  return {code, out.str(), err.str()};
}

Ran succeed(const std::vector<std::string>& args) {
  Ran ran = peergate(args);
  INFO(ran.out << ran.err);
  REQUIRE(ran.code == 0);
  return ran;
}

mode_t modeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

// `openssl x509 -noout <args> -in FILE`, which must succeed.
std::string x509(const std::string& file, const std::string& args) {
  const it::CommandOutput shown = shell("openssl x509 -noout " + args + " -in '" + file + "'");
  INFO(shown.output);
  REQUIRE(shown.status == 0);
  return shown.output;
}

void requireOpensslVerifies(const std::string& dir, const std::string& purpose) {
  const it::CommandOutput verified = it::opensslVerify(dir + "/ca.pem", dir + "/cert.pem", purpose);
  INFO(verified.output);
  CHECK(verified.status == 0);
  CHECK_THAT(verified.output, Catch::EndsWith("cert.pem: OK\n"));
}

// The private key's public half is the certificate's (`openssl pkey -pubout` vs `x509 -pubkey`).
void requireKeyMatches(const std::string& dir) {
  const it::CommandOutput key = shell("openssl pkey -pubout -in '" + dir + "/key.pem'");
  REQUIRE(key.status == 0);
  CHECK(key.output == x509(dir + "/cert.pem", "-pubkey"));
}

struct Bootstrapped {
  TempDir root{"peergate-certs"};
  std::string ca = root / "ca";
  std::string out = root / "out";
};

TEST_CASE("certs ca writes a root certificate and a 0600 key", "[certs][cli]") {
  Bootstrapped dirs;
  const Ran ran = succeed({"certs", "ca", "--out", dirs.ca});
  CHECK_THAT(ran.out, Catch::Contains("wrote " + dirs.ca + "/ca-key.pem (mode 0600)"));
  CHECK_THAT(ran.out, Catch::Contains("root CA \"CN=peergate root CA,O=peergate\" (ECDSA P-256)"));
  CHECK(modeOf(dirs.ca + "/ca-key.pem") == 0600);
  const std::string text = x509(dirs.ca + "/ca.pem", "-text");
  CHECK_THAT(text, Catch::Contains("CA:TRUE, pathlen:0"));
  CHECK_THAT(text, Catch::Contains("Certificate Sign, CRL Sign"));
  CHECK_THAT(text, Catch::Contains("Subject: O = peergate, CN = peergate root CA"));
  CHECK_THAT(text, Catch::Contains("NIST CURVE: P-256"));
  // Self-signed: the root verifies against itself.
  const it::CommandOutput verified =
      it::opensslVerify(dirs.ca + "/ca.pem", dirs.ca + "/ca.pem", "any");
  CHECK(verified.status == 0);
}

TEST_CASE("certs ca makes RSA roots and honours --ttl", "[certs][cli]") {
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca, "--key-type", "rsa3072", "--ttl", "30d"});
  CHECK_THAT(x509(dirs.ca + "/ca.pem", "-text"), Catch::Contains("Public-Key: (3072 bit)"));
  const it::TestCert cert = it::readCertFile(dirs.ca + "/ca.pem");
  const identity::Validity validity = identity::validityOf(cert.get());
  CHECK(validity.not_after - validity.not_before ==
        std::chrono::hours(30 * 24) + std::chrono::minutes(5));
}

TEST_CASE("certs refuses to overwrite files without --force", "[certs][cli]") {
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca});
  const std::string before = readFile(dirs.ca + "/ca-key.pem");
  const Ran refused = peergate({"certs", "ca", "--out", dirs.ca});
  CHECK(refused.code == 65);
  CHECK(refused.err == "peergate certs: " + dirs.ca +
                           "/ca-key.pem already exists; pass --force to replace it (nothing was "
                           "written)\n");
  CHECK(readFile(dirs.ca + "/ca-key.pem") == before);

  succeed({"certs", "issue", "--ca", dirs.ca, "--spiffe", "spiffe://cluster.local/ns/a/sa/b",
           "--out", dirs.out});
  const std::string leaf = readFile(dirs.out + "/cert.pem");
  CHECK(peergate({"certs", "issue", "--ca", dirs.ca, "--spiffe", "spiffe://cluster.local/ns/a/sa/b",
                  "--out", dirs.out})
            .code == 65);
  CHECK(readFile(dirs.out + "/cert.pem") == leaf);

  succeed({"certs", "ca", "--out", dirs.ca, "--force"});
  CHECK(readFile(dirs.ca + "/ca-key.pem") != before);
  CHECK(modeOf(dirs.ca + "/ca-key.pem") == 0600);
}

TEST_CASE("certs issue writes a SPIFFE leaf that openssl verifies for mTLS", "[certs][cli]") {
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca});
  const Ran ran = succeed({"certs", "issue", "--ca", dirs.ca, "--spiffe",
                           "spiffe://cluster.local/ns/foo/sa/httpbin", "--out", dirs.out});
  CHECK_THAT(ran.out, Catch::Contains("wrote " + dirs.out + "/key.pem (mode 0600)"));
  CHECK(ran.err.empty());
  CHECK(modeOf(dirs.out + "/key.pem") == 0600);
  CHECK(modeOf(dirs.out + "/cert.pem") == 0644);
  CHECK(readFile(dirs.out + "/ca.pem") == readFile(dirs.ca + "/ca.pem"));
  requireOpensslVerifies(dirs.out, "sslclient");
  requireOpensslVerifies(dirs.out, "sslserver");
  requireKeyMatches(dirs.out);
  CHECK(x509(dirs.out + "/cert.pem", "-ext subjectAltName") ==
        "X509v3 Subject Alternative Name: critical\n"
        "    URI:spiffe://cluster.local/ns/foo/sa/httpbin\n");
  const std::string text = x509(dirs.out + "/cert.pem", "-text");
  CHECK_THAT(text, Catch::Contains("CA:FALSE"));
  CHECK_THAT(text, Catch::Contains("TLS Web Server Authentication, TLS Web Client Authentication"));

  const it::TestCert ca = it::readCertFile(dirs.out + "/ca.pem");
  const it::TestCert leaf = it::readCertFile(dirs.out + "/cert.pem");
  CHECK(it::verifyChain(ca.get(), leaf.get(), X509_PURPOSE_SSL_CLIENT, std::time(nullptr)) ==
        X509_V_OK);
  const identity::Validity validity = identity::validityOf(leaf.get());
  CHECK(validity.not_after - validity.not_before == std::chrono::minutes(24 * 60 + 5));
}

TEST_CASE("certs issue caps the lifetime at the CA's expiry and says so", "[certs][cli]") {
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca, "--ttl", "48h"});
  const Ran ran =
      succeed({"certs", "issue", "--ca", dirs.ca, "--spiffe",
               "spiffe://cluster.local/ns/foo/sa/bar", "--out", dirs.out, "--ttl", "8760h"});
  CHECK_THAT(ran.err, Catch::StartsWith("warning: --ttl 8760h goes past the CA's expiry"));
  CHECK(x509(dirs.out + "/cert.pem", "-enddate") == x509(dirs.ca + "/ca.pem", "-enddate"));
  requireOpensslVerifies(dirs.out, "sslclient");
}

TEST_CASE("certs serving writes a serving pair the webhook loads", "[certs][cli]") {
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca});
  succeed({"certs", "serving", "--ca", dirs.ca, "--dns", "peergate.peergate-system.svc", "--dns",
           "localhost", "--ip", "127.0.0.1", "--out", dirs.out});
  CHECK(modeOf(dirs.out + "/key.pem") == 0600);
  requireOpensslVerifies(dirs.out, "sslserver");
  requireKeyMatches(dirs.out);
  CHECK(x509(dirs.out + "/cert.pem", "-ext subjectAltName") ==
        "X509v3 Subject Alternative Name: \n"
        "    DNS:peergate.peergate-system.svc, DNS:localhost, IP Address:127.0.0.1\n");
  // serverAuth only.
  CHECK(it::opensslVerify(dirs.out + "/ca.pem", dirs.out + "/cert.pem", "sslclient").status != 0);

  webhook::MetricsRegistry registry;
  webhook::ServerMetrics metrics(registry);
  webhook::CertReloader reloader({dirs.out + "/cert.pem", dirs.out + "/key.pem"}, metrics);
  std::string error;
  CHECK(reloader.loadInitial(error));
  CHECK(error.empty());
  CHECK(reloader.current()->subject == "CN=peergate.peergate-system.svc");
}

TEST_CASE("certs refuses bad flag values as usage errors", "[certs][cli]") {
  const auto [args, fragment] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"certs"}, "A subcommand is required"},
      {{"certs", "ca"}, "--out is required"},
      {{"certs", "ca", "--out", "OUT", "--ttl", "24"}, "the last number has no unit"},
      {{"certs", "ca", "--out", "OUT", "--ttl", "0h"}, "it must be longer than zero"},
      {{"certs", "ca", "--out", "OUT", "--key-type", "dsa"}, "dsa not in"},
      {{"certs", "issue", "--ca", "CA", "--out", "OUT", "--spiffe",
        "spiffe://cluster.local/ns/foo"},
       "invalid SPIFFE ID \"spiffe://cluster.local/ns/foo\": the path"},
      {{"certs", "issue", "--ca", "CA", "--out", "OUT"}, "--spiffe is required"},
      {{"certs", "serving", "--ca", "CA", "--out", "OUT", "--dns", "a,b"}, "has ','"},
      {{"certs", "serving", "--ca", "CA", "--out", "OUT", "--dns", "a", "--ip", "1.2.3"},
       "\"1.2.3\" is not an IPv4 or IPv6 address"},
  }));
  // The table names the directories; each run gets its own.
  Bootstrapped dirs;
  succeed({"certs", "ca", "--out", dirs.ca});
  std::vector<std::string> resolved = args;
  for (std::string& arg : resolved) arg = arg == "CA" ? dirs.ca : arg == "OUT" ? dirs.out : arg;
  CAPTURE(resolved);
  const Ran ran = peergate(resolved);
  CHECK(ran.code == 64);
  CHECK_THAT(ran.err, Catch::Contains(fragment));
  CHECK_FALSE(std::filesystem::exists("OUT"));
}

TEST_CASE("certs reports an unusable CA directory as bad input", "[certs][cli]") {
  Bootstrapped dirs;
  Ran ran = peergate({"certs", "issue", "--ca", dirs.ca, "--spiffe",
                      "spiffe://cluster.local/ns/a/sa/b", "--out", dirs.out});
  CHECK(ran.code == 65);
  CHECK_THAT(ran.err, Catch::StartsWith("peergate certs: --ca " + dirs.ca + ": cannot read " +
                                        dirs.ca + "/ca.pem"));

  succeed({"certs", "ca", "--out", dirs.ca});
  succeed({"certs", "ca", "--out", dirs.root / "other"});
  std::filesystem::copy_file(dirs.root / "other/ca-key.pem", dirs.ca + "/ca-key.pem",
                             std::filesystem::copy_options::overwrite_existing);
  ran = peergate({"certs", "serving", "--ca", dirs.ca, "--dns", "a.example", "--out", dirs.out});
  CHECK(ran.code == 65);
  CHECK_THAT(ran.err, Catch::Contains("the private key is not the CA certificate's key"));
  CHECK_FALSE(std::filesystem::exists(dirs.out));
}

TEST_CASE("certs --help shows examples", "[certs][cli]") {
  Ran ran = peergate({"certs", "--help"});
  CHECK(ran.code == 0);
  CHECK_THAT(ran.out, Catch::Contains("peergate certs issue --ca ca/ --spiffe"));
  ran = peergate({"certs", "serving", "--help"});
  CHECK(ran.code == 0);
  CHECK_THAT(ran.out, Catch::Contains("--tls-cert DIR/cert.pem --tls-key DIR/key.pem"));
  CHECK_THAT(ran.out, Catch::Contains("--ttl TEXT:DURATION=8760h"));
}

}  // namespace
}  // namespace peergate::cli
