#pragma once

// Private keys: generation (ECDSA P-256 by default, RSA for peers that need it) and PEM.

#include <string>
#include <string_view>

#include "peergate/identity/openssl_ptr.h"
#include "peergate/identity/result.h"

namespace peergate::identity {

enum class KeyType { EcdsaP256, Rsa2048, Rsa3072 };

// "ecdsa" (P-256), "rsa" or "rsa2048", "rsa3072"; error code "key.type" otherwise.
Result<KeyType> parseKeyType(std::string_view name);
// "ECDSA P-256", "RSA 2048", "RSA 3072".
std::string describeKeyType(KeyType type);

// A fresh key from the default provider's CSPRNG. Error code "key.generate".
Result<KeyPtr> generateKey(KeyType type);

// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), the form every TLS stack reads. The caller writes it
// with writeFileAtomically(..., FileMode::Private, ...).
Result<std::string> privateKeyPem(EVP_PKEY* key);
// The first private key in `pem` (PKCS#8, or the traditional EC/RSA forms). Error "key.parse".
Result<KeyPtr> parsePrivateKeyPem(std::string_view pem);

// "ECDSA P-256", "RSA 3072", ... for messages; "unknown" when it is neither.
std::string describeKey(EVP_PKEY* key);

// Keys the CA signs for: ECDSA on P-256 or P-384, RSA of at least 2048 bits. Error "key.weak"
// or "key.unsupported" naming what was found.
Result<Done> checkAcceptableKey(EVP_PKEY* key);

}  // namespace peergate::identity
