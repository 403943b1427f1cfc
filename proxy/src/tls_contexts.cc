#include "peergate/proxy/tls_contexts.h"

#include <ctime>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "peer_identity.h"
#include "peergate/proxy/client_hello.h"
#include "session_resumption.h"

namespace peergate::proxy {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFiles[] = {"cert.pem", "key.pem", "ca.pem"};
constexpr std::size_t kReadBufferBytes = 64 * 1024;

// The SSL ex_data slot that carries a connection's PeerVerification.
int verificationIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string opensslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::string chainFailure(int x509_error) {
  switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "not_yet_valid";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return "untrusted_chain";
    default:
      return "bad_certificate";
  }
}

// OpenSSL's chain verdict first; on the leaf, the SPIFFE rules and (outbound) secure naming.
int verifyPeer(int preverify_ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* verification = static_cast<PeerVerification*>(SSL_get_ex_data(ssl, verificationIndex()));
  if (verification == nullptr) return 0;
  if (preverify_ok != 1) {
    if (verification->failure.empty()) {
      verification->failure = chainFailure(X509_STORE_CTX_get_error(store));
    }
    return 0;
  }
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  LeafIdentity identity =
      checkLeafIdentity(X509_STORE_CTX_get_current_cert(store), verification->trust_domain);
  if (!identity.failure.empty()) {
    verification->failure = identity.failure;
  } else if (!verification->expected_id.empty() &&
             identity.spiffe_id != verification->expected_id) {
    verification->failure = "identity_mismatch";
    verification->peer_id = identity.spiffe_id;  // for the log line
  } else {
    verification->peer_id = std::move(identity.spiffe_id);
    return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

std::string readFile(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return file ? std::move(text).str() : std::string();
}

struct Pem {
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = sk_X509_new_null();
  STACK_OF(X509) * roots = sk_X509_new_null();
  EVP_PKEY* key = nullptr;
  ~Pem() {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(roots, X509_free);
    EVP_PKEY_free(key);
  }
};

// Every certificate of a PEM text, in order.
void readCertificates(const std::string& pem, STACK_OF(X509) * out) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(out, cert);
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
}

bool parsePem(const fs::path& dir, const std::string (&texts)[3], Pem& pem, std::string& error) {
  readCertificates(texts[0], pem.chain);
  if (sk_X509_num(pem.chain) == 0) {
    error = (dir / kFiles[0]).string() + ": no PEM certificate";
    return false;
  }
  pem.leaf = sk_X509_shift(pem.chain);
  BIO* bio = BIO_new_mem_buf(texts[1].data(), static_cast<int>(texts[1].size()));
  pem.key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (pem.key == nullptr) {
    error = (dir / kFiles[1]).string() + ": no PEM private key (" + opensslError() + ")";
    return false;
  }
  if (X509_check_private_key(pem.leaf, pem.key) != 1) {
    ERR_clear_error();
    error = (dir / kFiles[1]).string() + ": the key does not match " + kFiles[0];
    return false;
  }
  readCertificates(texts[2], pem.roots);
  if (sk_X509_num(pem.roots) == 0) {
    error = (dir / kFiles[2]).string() + ": no PEM certificate (the mesh trust bundle)";
    return false;
  }
  return true;
}

bool configure(SSL_CTX* ctx, const Pem& pem, std::string& error) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx,
                      SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  // Partial writes and moving buffers suit a fixed splice buffer; released buffers keep idle
  // connections small.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead takes a whole record (header and body, or several records) in one read(2) instead
  // of two; TlsStream accounts for the bytes it leaves inside OpenSSL. A 64 KiB read buffer takes
  // up to four full records per read(2) in bulk transfers (iperf3 through a pair: 5.77 → 6.36
  // Gbit/s, bench/README.md); buffers are released before every wait, so idle connections hold
  // none of it.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, kReadBufferBytes);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (int i = 0; i < sk_X509_num(pem.roots); ++i) {
    X509_STORE_add_cert(store, sk_X509_value(pem.roots, i));
  }
  if (SSL_CTX_use_certificate(ctx, pem.leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, pem.key) != 1) {
    error = "cannot use the certificate: " + opensslError();
    return false;
  }
  for (int i = 0; i < sk_X509_num(pem.chain); ++i) {
    SSL_CTX_add1_chain_cert(ctx, sk_X509_value(pem.chain, i));
  }
  return true;
}

std::chrono::system_clock::time_point notAfter(X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Outbound: kOutboundAlpn, which tells a PERMISSIVE port (ours or an Istio sidecar's) that this
// TLS is mesh mTLS to terminate rather than the app's own TLS to pass through.
bool offerMeshAlpn(SSL_CTX* client) {
  static const std::string offer = alpnWireFormat(kOutboundAlpn);
  // The one OpenSSL setter that returns 0 on success.
  return SSL_CTX_set_alpn_protos(client, reinterpret_cast<const unsigned char*>(offer.data()),
                                 static_cast<unsigned int>(offer.size())) == 0;
}

SSL* newSsl(SSL_CTX* ctx, PeerVerification* verification) {
  SSL* ssl = SSL_new(ctx);
  if (ssl != nullptr) SSL_set_ex_data(ssl, verificationIndex(), verification);
  return ssl;
}

}  // namespace

int selectPreferredAlpn(SSL*, const unsigned char** out, unsigned char* out_size,
                        const unsigned char* offered, unsigned int offered_size, void* preference) {
  const auto& wire = *static_cast<const std::string*>(preference);
  unsigned char* selected = nullptr;
  unsigned char selected_size = 0;
  if (SSL_select_next_proto(&selected, &selected_size,
                            reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned int>(wire.size()), offered,
                            offered_size) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  *out_size = selected_size;
  return SSL_TLSEXT_ERR_OK;
}

std::string readCertsContent(const fs::path& dir) {
  std::string content;
  for (const char* name : kFiles) {
    std::string text = readFile(dir / name);
    if (text.empty()) return {};
    content += text;
  }
  return content;
}

std::shared_ptr<const TlsContexts> TlsContexts::load(const fs::path& dir, std::string& error) {
  std::string texts[3];
  for (int i = 0; i < 3; ++i) {
    texts[i] = readFile(dir / kFiles[i]);
    if (texts[i].empty()) {
      error = (dir / kFiles[i]).string() + ": cannot read (or empty)";
      return nullptr;
    }
  }
  return fromPem(texts[0], texts[1], texts[2], dir, error);
}

std::shared_ptr<const TlsContexts> TlsContexts::fromPem(const std::string& cert_pem,
                                                        const std::string& key_pem,
                                                        const std::string& ca_pem,
                                                        const fs::path& origin,
                                                        std::string& error) {
  ERR_clear_error();
  const std::string texts[3] = {cert_pem, key_pem, ca_pem};
  Pem pem;
  if (!parsePem(origin, texts, pem, error)) return nullptr;
  std::shared_ptr<TlsContexts> contexts(new TlsContexts());
  contexts->server_ = SSL_CTX_new(TLS_server_method());
  contexts->client_ = SSL_CTX_new(TLS_client_method());
  if (contexts->server_ == nullptr || contexts->client_ == nullptr ||
      !configure(contexts->server_, pem, error) || !configure(contexts->client_, pem, error) ||
      !offerMeshAlpn(contexts->client_)) {
    if (error.empty()) error = "cannot create a TLS context: " + opensslError();
    return nullptr;
  }
  SSL_CTX_set_verify(contexts->server_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     &verifyPeer);
  SSL_CTX_set_verify(contexts->client_, SSL_VERIFY_PEER, &verifyPeer);
  // The first of kInboundAlpn the client offered, so a mesh client sees it was recognised.
  static const std::string inbound_alpn = alpnWireFormat(kInboundAlpn);
  SSL_CTX_set_alpn_select_cb(contexts->server_, &selectPreferredAlpn,
                             const_cast<std::string*>(&inbound_alpn));
  SSL_CTX_clear_options(contexts->client_, SSL_OP_NO_TICKET);
  enableServerTickets(contexts->server_);
  enableClientSessionCache(contexts->client_);
  contexts->info_.spiffe_id = soleSpiffeUri(pem.leaf);
  contexts->info_.not_after = notAfter(pem.leaf);
  contexts->content_ = cert_pem + key_pem + ca_pem;
  return contexts;
}

TlsContexts::~TlsContexts() {
  SSL_CTX_free(server_);
  SSL_CTX_free(client_);
}

SSL* TlsContexts::newServerSsl(PeerVerification* verification) const {
  return newSsl(server_, verification);
}

SSL* TlsContexts::newClientSsl(PeerVerification* verification) const {
  return newSsl(client_, verification);
}

std::string classifyHandshakeError(unsigned long openssl_error) {
  if (openssl_error == 0 || openssl_error == 1) return "tls_error";
  const int reason = ERR_GET_REASON(openssl_error);
  if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) return "no_client_cert";
  if (ERR_GET_LIB(openssl_error) == ERR_LIB_SSL) return "tls_protocol";
  return "tls_error";
}

}  // namespace peergate::proxy
