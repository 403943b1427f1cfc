#pragma once

#include <string>

#include <openssl/ssl.h>

#include "peergate/proxy/tls_contexts.h"

namespace peergate::proxy {

// TLS 1.3 session tickets between proxies. A new mTLS connection costs both proxies a full
// handshake (two signatures, two chain verifications, two certificate parses); resuming a
// session skips all of it. What resumption must not skip is the identity check: a resumed
// handshake runs no verify callback, so checkResumedPeer redoes the SPIFFE rules (and secure
// naming) on the certificate the session carries, and sessions live at most kSessionSeconds.
//
// Server side: stateless tickets sealed with a key private to the SSL_CTX, so a certificate or
// trust-bundle reload (a new SSL_CTX) invalidates every ticket it issued. Client side: one
// session per (expected identity, server address) in a bounded cache owned by the SSL_CTX.
void enableServerTickets(SSL_CTX* server);
void enableClientSessionCache(SSL_CTX* client);

// Outbound, before the handshake: remembers under which key the session that the handshake
// yields is cached and offers the cached one, if any. `key` must outlive the SSL.
void offerCachedSession(SSL* ssl, const std::string* key);

// After a handshake that resumed a session: "" and `verification.peer_id` set when the session's
// peer certificate still passes (not expired, SPIFFE ID in the trust domain, the expected one
// outbound), otherwise the handshake-failure reason.
std::string checkResumedPeer(SSL* ssl, PeerVerification& verification);

constexpr long kSessionSeconds = 300;

}  // namespace peergate::proxy
