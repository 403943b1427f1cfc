#include "tls_server_context.h"

#include <cstring>

#include <openssl/err.h>

#include "peergate/webhook/cert_reloader.h"

namespace peergate::webhook {
namespace {

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";

}  // namespace

std::string opensslError(const std::string& what) {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return what;
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return what + ": " + buffer;
}

bool configureServerTls(SSL_CTX& ctx, CertReloader& certs, const char* session_context,
                        std::string& error) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      &ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) {
    error = opensslError("cannot set the TLS 1.2 cipher list");
    return false;
  }
  if (SSL_CTX_set1_groups_list(&ctx, kGroups) != 1) {
    error = opensslError("cannot set the key exchange groups");
    return false;
  }
  SSL_CTX_set_session_id_context(&ctx, reinterpret_cast<const unsigned char*>(session_context),
                                 static_cast<unsigned int>(std::strlen(session_context)));
  certs.attachTo(&ctx);
  return true;
}

}  // namespace peergate::webhook
