#pragma once

#include <string>

#include <openssl/ssl.h>

namespace peergate::webhook {

class CertReloader;

// The TLS settings of every HTTPS listener of the webhook process: TLS 1.2+, ECDHE + AEAD
// suites for 1.2 (Mozilla "intermediate"), X25519/P-256/P-384, no compression or
// renegotiation, and the serving certificate chosen per handshake by `certs`. False with
// `error` when OpenSSL refuses a setting.
bool configureServerTls(SSL_CTX& ctx, CertReloader& certs, const char* session_context,
                        std::string& error);

// "<what>: <OpenSSL's last error>" (or `what` alone), clearing OpenSSL's error queue.
std::string opensslError(const std::string& what);

}  // namespace peergate::webhook
