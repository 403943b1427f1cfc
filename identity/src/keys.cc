#include "peergate/identity/keys.h"

#include <openssl/pem.h>

#include "memory_bio.h"
#include "openssl_error.h"

namespace peergate::identity {
namespace {

using detail::failure;
using detail::opensslFailure;

// Below 2048 bits RSA is breakable in practice; above 8192 verifying a CSR costs enough that a
// caller could use it to burn the CA's CPU.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;

std::string groupName(EVP_PKEY* key) {
  char name[64] = {};
  std::size_t length = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &length) != 1) return "";
  return std::string(name, length);
}

std::string curveName(const std::string& group) {
  if (group == "prime256v1" || group == "P-256") return "P-256";
  if (group == "secp384r1" || group == "P-384") return "P-384";
  return group;
}

}  // namespace

Result<KeyType> parseKeyType(std::string_view name) {
  if (name == "ecdsa") return KeyType::EcdsaP256;
  if (name == "rsa" || name == "rsa2048") return KeyType::Rsa2048;
  if (name == "rsa3072") return KeyType::Rsa3072;
  return failure("key.type", "unknown key type \"" + std::string(name) +
                                 "\"; use ecdsa (P-256), rsa (2048 bits) or rsa3072");
}

std::string describeKeyType(KeyType type) {
  switch (type) {
    case KeyType::EcdsaP256:
      return "ECDSA P-256";
    case KeyType::Rsa2048:
      return "RSA 2048";
    case KeyType::Rsa3072:
      return "RSA 3072";
  }
  return "unknown";
}

Result<KeyPtr> generateKey(KeyType type) {
  KeyPtr key;
  if (type == KeyType::EcdsaP256) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  } else {
    const std::size_t bits = type == KeyType::Rsa2048 ? 2048 : 3072;
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  }
  if (!key)
    return opensslFailure("key.generate", "cannot generate a " + describeKeyType(type) + " key");
  return key;
}

Result<std::string> privateKeyPem(EVP_PKEY* key) {
  detail::BioPtr bio = detail::writeBio();
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return opensslFailure("key.encode", "cannot encode the private key as PEM");
  }
  return detail::bioText(bio.get());
}

Result<KeyPtr> parsePrivateKeyPem(std::string_view pem) {
  detail::BioPtr bio = detail::readBio(pem);
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return opensslFailure("key.parse", "no unencrypted PEM private key");
  return key;
}

std::string describeKey(EVP_PKEY* key) {
  if (key == nullptr) return "no key";
  if (EVP_PKEY_is_a(key, "EC")) return "ECDSA " + curveName(groupName(key));
  if (EVP_PKEY_is_a(key, "RSA")) return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
  const char* name = EVP_PKEY_get0_type_name(key);
  return name != nullptr ? name : "unknown";
}

Result<Done> checkAcceptableKey(EVP_PKEY* key) {
  if (key == nullptr) return failure("key.unsupported", "no public key");
  if (EVP_PKEY_is_a(key, "EC")) {
    const std::string curve = curveName(groupName(key));
    if (curve == "P-256" || curve == "P-384") return Done{};
    return failure("key.unsupported",
                   "ECDSA key on curve " + curve + "; only P-256 and P-384 are accepted");
  }
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits >= kMinRsaBits && bits <= kMaxRsaBits) return Done{};
    return failure("key.weak", "RSA key of " + std::to_string(bits) +
                                   " bits; between 2048 and 8192 bits are accepted");
  }
  return failure("key.unsupported",
                 describeKey(key) + " key; only ECDSA (P-256, P-384) and RSA keys are accepted");
}

}  // namespace peergate::identity
