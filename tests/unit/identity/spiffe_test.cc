// SPIFFE IDs: the strict parser, and reading a peer's identity from its leaf certificate (on
// certificates made by the openssl CLI, not by our issuer).

#include "peergate/identity/spiffe.h"

#include <string>
#include <tuple>

#include <catch2/catch.hpp>

#include "identity_fixtures.h"

namespace peergate::identity {
namespace {

using testing::opensslSelfSigned;
using testing::TempDir;

TEST_CASE("parses a Kubernetes SPIFFE ID into its parts", "[identity][spiffe]") {
  const Result<SpiffeId> id = parseSpiffeId("spiffe://cluster.local/ns/foo/sa/httpbin");
  REQUIRE(id.ok());
  CHECK(id.value().trust_domain == "cluster.local");
  CHECK(id.value().namespace_name == "foo");
  CHECK(id.value().service_account == "httpbin");
  CHECK(id.value().uri() == "spiffe://cluster.local/ns/foo/sa/httpbin");
}

TEST_CASE("accepts the characters Kubernetes and SPIFFE allow", "[identity][spiffe]") {
  const std::string uri = GENERATE(as<std::string>{}, "spiffe://cluster.local/ns/a/sa/b",
                                   "spiffe://my_td-2.example.com/ns/kube-system/sa/default",
                                   "spiffe://td/ns/ns-1/sa/sa.with.dots-and-1");
  CAPTURE(uri);
  const Result<SpiffeId> id = parseSpiffeId(uri);
  REQUIRE(id.ok());
  CHECK(id.value().uri() == uri);
}

TEST_CASE("rejects malformed SPIFFE IDs naming what is wrong", "[identity][spiffe]") {
  const auto [uri, code, fragment] = GENERATE(table<std::string, std::string, std::string>({
      {"", "spiffe.syntax", "the scheme must be spiffe://"},
      {"https://cluster.local/ns/foo/sa/bar", "spiffe.syntax", "the scheme must be spiffe://"},
      {"SPIFFE://cluster.local/ns/foo/sa/bar", "spiffe.syntax", "must be lowercase spiffe://"},
      {"spiffe:/cluster.local/ns/foo/sa/bar", "spiffe.syntax", "the scheme must be spiffe://"},
      {"spiffe://cluster.local/ns/foo/sa/bar?x=1", "spiffe.syntax", "query or fragment"},
      {"spiffe://cluster.local/ns/foo/sa/bar#frag", "spiffe.syntax", "query or fragment"},
      {"spiffe://cluster.local/ns/f%6Fo/sa/bar", "spiffe.syntax", "percent-encoding"},
      {"spiffe:///ns/foo/sa/bar", "spiffe.trust_domain", "the trust domain is empty"},
      {"spiffe://Cluster.Local/ns/foo/sa/bar", "spiffe.trust_domain", "must be lowercase"},
      {"spiffe://cluster.local:8443/ns/foo/sa/bar", "spiffe.trust_domain", "must not have a port"},
      {"spiffe://user@cluster.local/ns/foo/sa/bar", "spiffe.trust_domain", "user info"},
      {"spiffe://clus ter/ns/foo/sa/bar", "spiffe.trust_domain", "has ' '"},
      {"spiffe://cluster.local", "spiffe.path", "the path is missing"},
      {"spiffe://cluster.local/", "spiffe.path", "the path is missing"},
      {"spiffe://cluster.local/ns/foo/sa/bar/", "spiffe.path", "empty segment"},
      {"spiffe://cluster.local/ns//sa/bar", "spiffe.path", "empty segment"},
      {"spiffe://cluster.local/ns/foo", "spiffe.path", "is not /ns/<namespace>/sa/"},
      {"spiffe://cluster.local/sa/bar/ns/foo", "spiffe.path", "is not /ns/<namespace>/sa/"},
      {"spiffe://cluster.local/ns/foo/sa/bar/extra", "spiffe.path", "is not /ns/<namespace>/sa/"},
      {"spiffe://cluster.local/ns/Foo/sa/bar", "spiffe.namespace", "has 'F'"},
      {"spiffe://cluster.local/ns/foo.bar/sa/bar", "spiffe.namespace", "has '.'"},
      {"spiffe://cluster.local/ns/-foo/sa/bar", "spiffe.namespace", "must start and end"},
      {"spiffe://cluster.local/ns/foo/sa/bar_baz", "spiffe.service_account", "has '_'"},
      {"spiffe://cluster.local/ns/foo/sa/bar.", "spiffe.service_account", "must start and end"},
      {"spiffe://cluster.local/ns/" + std::string(64, 'a') + "/sa/bar", "spiffe.namespace",
       "longer than 63"},
      {"spiffe://" + std::string(256, 'a') + "/ns/foo/sa/bar", "spiffe.trust_domain",
       "longer than 255"},
      {"spiffe://td/ns/foo/sa/" + std::string(2040, 'a'), "spiffe.syntax", "longer than 2048"},
      {std::string("spiffe://td/ns/foo/sa/b\0r", 25), "spiffe.service_account", "byte 0"},
  }));
  CAPTURE(uri);
  const Result<SpiffeId> id = parseSpiffeId(uri);
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().code == code);
  CHECK_THAT(id.error().message, Catch::Contains(fragment));
  CHECK_THAT(id.error().message,
             Catch::Contains("expected spiffe://<trust-domain>/ns/<namespace>/sa/"));
}

TEST_CASE("quotes only the start of a very long SPIFFE ID in the error", "[identity][spiffe]") {
  const Result<SpiffeId> id = parseSpiffeId("spiffe://td/ns/foo/sa/" + std::string(3000, 'a'));
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().message.size() < 400);
  CHECK_THAT(id.error().message, Catch::Contains("...\""));
}

TEST_CASE("lists every URI SAN of a certificate in order", "[identity][spiffe]") {
  TempDir dir;
  auto cert = opensslSelfSigned(
      dir, "multi",
      "-addext 'subjectAltName=DNS:a.example,URI:spiffe://td/ns/a/sa/b,URI:https://x.example/'");
  CHECK(uriSans(cert.get()) ==
        std::vector<std::string>{"spiffe://td/ns/a/sa/b", "https://x.example/"});
  auto none = opensslSelfSigned(dir, "none", "-addext 'subjectAltName=DNS:a.example'");
  CHECK(uriSans(none.get()).empty());
  CHECK(uriSans(nullptr).empty());
}

TEST_CASE("reads the peer's SPIFFE ID from a workload leaf", "[identity][spiffe]") {
  TempDir dir;
  auto leaf = opensslSelfSigned(dir, "leaf",
                                "-addext 'basicConstraints=critical,CA:FALSE' -addext "
                                "'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/httpbin'");
  const Result<SpiffeId> id = peerSpiffeId(leaf.get(), "cluster.local");
  REQUIRE(id.ok());
  CHECK(id.value() == SpiffeId{"cluster.local", "foo", "httpbin"});
}

TEST_CASE("refuses peer certificates that do not carry exactly one valid identity",
          "[identity][spiffe]") {
  constexpr const char* kLeaf = "-addext 'basicConstraints=critical,CA:FALSE' ";
  const auto [name, addext, code, fragment] =
      GENERATE(table<std::string, std::string, std::string, std::string>({
          {"ca",
           "-addext 'basicConstraints=critical,CA:TRUE' "
           "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/bar'",
           "peer.ca_certificate", "is a CA certificate"},
          {"ca-without-cert-sign",
           "-addext 'basicConstraints=critical,CA:TRUE' "
           "-addext 'keyUsage=critical,digitalSignature' "
           "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/bar'",
           "peer.ca_certificate", "is a CA certificate"},
          {"cert-sign-without-constraints",
           "-addext 'keyUsage=critical,digitalSignature,keyCertSign' "
           "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo/sa/bar'",
           "peer.ca_certificate", "is a CA certificate"},
          {"none", std::string(kLeaf) + "-addext 'subjectAltName=DNS:foo.example'",
           "peer.no_spiffe_id", "no spiffe:// URI SAN"},
          {"two",
           std::string(kLeaf) + "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/a/sa/b,"
                                "URI:spiffe://cluster.local/ns/c/sa/d'",
           "peer.multiple_spiffe_ids", "has 2 spiffe:// URI SANs"},
          {"upper",
           std::string(kLeaf) + "-addext 'subjectAltName=URI:SPIFFE://cluster.local/ns/a/sa/b,"
                                "URI:spiffe://cluster.local/ns/c/sa/d'",
           "peer.multiple_spiffe_ids", "exactly one is allowed"},
          {"other-td",
           std::string(kLeaf) + "-addext 'subjectAltName=URI:spiffe://evil.example/ns/foo/sa/bar'",
           "peer.trust_domain", "is in trust domain \"evil.example\", expected \"cluster.local\""},
          {"malformed",
           std::string(kLeaf) + "-addext 'subjectAltName=URI:spiffe://cluster.local/ns/foo'",
           "spiffe.path", "is not /ns/<namespace>/sa/"},
      }));
  CAPTURE(name);
  TempDir dir;
  auto cert = opensslSelfSigned(dir, name, addext);
  const Result<SpiffeId> id = peerSpiffeId(cert.get(), "cluster.local");
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().code == code);
  CHECK_THAT(id.error().message, Catch::Contains(fragment));
}

TEST_CASE("refuses a missing peer certificate", "[identity][spiffe]") {
  const Result<SpiffeId> id = peerSpiffeId(nullptr, "cluster.local");
  REQUIRE_FALSE(id.ok());
  CHECK(id.error().code == "peer.no_certificate");
}

}  // namespace
}  // namespace peergate::identity
