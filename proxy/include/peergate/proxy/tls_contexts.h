#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <openssl/ssl.h>

namespace peergate::proxy {

// What the verification of one peer decided, attached to its SSL object. The verify callback
// fills it during the handshake, so a refused peer gets a TLS alert, not a silent close.
struct PeerVerification {
  std::string trust_domain;
  std::string expected_id;  // outbound: the identity the server must have; "" inbound
  std::string peer_id;      // the peer's SPIFFE ID once accepted
  std::string failure;      // metric reason when we refused the peer ("untrusted_chain", ...)
};

struct WorkloadCertInfo {
  std::string spiffe_id;  // our own identity ("" when the cert has none)
  std::chrono::system_clock::time_point not_after;
};

// The proxy's certificate, key and trust bundle (`--certs DIR`: cert.pem key.pem ca.pem) as two
// immutable SSL_CTX, one to accept mTLS and one to originate it. A reload builds a new
// TlsContexts; connections hold a shared_ptr to the one they started with, so a rotation never
// touches an open connection. Both contexts: TLS 1.2 minimum (1.3 preferred), peer certificate
// required and checked by verifyPeer(); TLS sessions between proxies are resumed (tickets sealed
// per context, so a reload voids them) and a resumed peer is re-checked (session_resumption.h).
// ALPN (client_hello.h): the client context offers kOutboundAlpn, the server context selects the
// first of kInboundAlpn the client offered, or none.
// An SSL_CTX_set_alpn_select_cb callback: selects the first protocol of `preference` (a
// `const std::string*` in ALPN wire format, alpnWireFormat) that the client offered; no ALPN in
// the answer when it offered none of them.
int selectPreferredAlpn(SSL* ssl, const unsigned char** out, unsigned char* out_size,
                        const unsigned char* offered, unsigned int offered_size, void* preference);

class TlsContexts {
 public:
  // nullptr with `error` naming the file and the problem.
  static std::shared_ptr<const TlsContexts> load(const std::filesystem::path& dir,
                                                 std::string& error);
  // The same from PEM texts (the control-plane mode keeps them in memory); `origin` names them
  // in errors.
  static std::shared_ptr<const TlsContexts> fromPem(const std::string& cert_pem,
                                                    const std::string& key_pem,
                                                    const std::string& ca_pem,
                                                    const std::filesystem::path& origin,
                                                    std::string& error);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // A new SSL for one connection, verifying its peer into `verification` (which must outlive
  // the handshake); nullptr when OpenSSL is out of memory.
  SSL* newServerSsl(PeerVerification* verification) const;
  SSL* newClientSsl(PeerVerification* verification) const;

  const WorkloadCertInfo& info() const { return info_; }
  // The bytes of the three files, to notice a change.
  const std::string& content() const { return content_; }

 private:
  TlsContexts() = default;

  SSL_CTX* server_ = nullptr;
  SSL_CTX* client_ = nullptr;
  WorkloadCertInfo info_;
  std::string content_;
};

// The files of a certs directory, concatenated (empty when one cannot be read).
std::string readCertsContent(const std::filesystem::path& dir);

// The reason label for a handshake that failed with `openssl_error` (an ERR code) when the verify
// callback did not set one: "no_client_cert", "tls_protocol", "tls_error".
std::string classifyHandshakeError(unsigned long openssl_error);

}  // namespace peergate::proxy
