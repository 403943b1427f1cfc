// Keys: the types offered, PEM round trips, and which keys the CA accepts.

#include "peergate/identity/keys.h"

#include <catch2/catch.hpp>

namespace peergate::identity {
namespace {

TEST_CASE("parses the key type names the CLI offers", "[identity][keys]") {
  CHECK(parseKeyType("ecdsa").value() == KeyType::EcdsaP256);
  CHECK(parseKeyType("rsa").value() == KeyType::Rsa2048);
  CHECK(parseKeyType("rsa2048").value() == KeyType::Rsa2048);
  CHECK(parseKeyType("rsa3072").value() == KeyType::Rsa3072);
  const Result<KeyType> unknown = parseKeyType("dsa");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == "key.type");
  CHECK(unknown.error().message ==
        "unknown key type \"dsa\"; use ecdsa (P-256), rsa (2048 bits) or rsa3072");
}

TEST_CASE("generates keys of each type and round-trips them through PEM", "[identity][keys]") {
  const auto [type, described] = GENERATE(table<KeyType, std::string>({
      {KeyType::EcdsaP256, "ECDSA P-256"},
      {KeyType::Rsa2048, "RSA 2048"},
      {KeyType::Rsa3072, "RSA 3072"},
  }));
  CAPTURE(described);
  const KeyPtr key = generateKey(type).value();
  CHECK(describeKey(key.get()) == described);
  CHECK(describeKeyType(type) == described);
  CHECK(checkAcceptableKey(key.get()).ok());
  const std::string pem = privateKeyPem(key.get()).value();
  CHECK_THAT(pem, Catch::StartsWith("-----BEGIN PRIVATE KEY-----"));
  const KeyPtr parsed = parsePrivateKeyPem(pem).value();
  CHECK(EVP_PKEY_eq(parsed.get(), key.get()) == 1);
}

TEST_CASE("two generated keys differ", "[identity][keys]") {
  const KeyPtr first = generateKey(KeyType::EcdsaP256).value();
  const KeyPtr second = generateKey(KeyType::EcdsaP256).value();
  CHECK(EVP_PKEY_eq(first.get(), second.get()) != 1);
}

TEST_CASE("refuses text that is not a private key", "[identity][keys]") {
  const Result<KeyPtr> key = parsePrivateKeyPem("-----BEGIN CERTIFICATE-----\nAAAA\n");
  REQUIRE_FALSE(key.ok());
  CHECK(key.error().code == "key.parse");
  CHECK_THAT(key.error().message, Catch::StartsWith("no unencrypted PEM private key: "));
}

TEST_CASE("accepts P-384 and refuses other curves and algorithms", "[identity][keys]") {
  const KeyPtr p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  CHECK(checkAcceptableKey(p384.get()).ok());
  CHECK(describeKey(p384.get()) == "ECDSA P-384");
  const KeyPtr k256(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1"));
  const Result<Done> curve = checkAcceptableKey(k256.get());
  REQUIRE_FALSE(curve.ok());
  CHECK(curve.error().message == "ECDSA key on curve secp256k1; only P-256 and P-384 are accepted");
  const KeyPtr x25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  CHECK(checkAcceptableKey(x25519.get()).error().code == "key.unsupported");
}

}  // namespace
}  // namespace peergate::identity
