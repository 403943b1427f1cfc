#include "session_resumption.h"

#include <mutex>
#include <unordered_map>

#include <openssl/x509.h>

#include "peer_identity.h"

namespace peergate::proxy {
namespace {

constexpr unsigned char kSessionContext[] = "peergate-proxy";
constexpr std::size_t kMaxCachedSessions = 4096;

// Sessions of one client SSL_CTX. Touched from the event loop; the lock only guards against a
// context shared by two loops.
class ClientSessionCache {
 public:
  ~ClientSessionCache() {
    for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
  }
  SSL_SESSION* take(const std::string& key) {  // a new reference, or nullptr
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    SSL_SESSION_up_ref(it->second);
    return it->second;
  }
  void put(const std::string& key, SSL_SESSION* session) {  // takes the reference
    std::lock_guard lock(mutex_);
    if (sessions_.size() >= kMaxCachedSessions && !sessions_.count(key)) clear();
    auto [it, inserted] = sessions_.emplace(key, session);
    if (!inserted) {
      SSL_SESSION_free(it->second);
      it->second = session;
    }
  }

 private:
  void clear() {
    for (auto& [key, session] : sessions_) SSL_SESSION_free(session);
    sessions_.clear();
  }
  std::mutex mutex_;
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

void freeCache(void*, void* cache, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<ClientSessionCache*>(cache);
}

int cacheIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &freeCache);
  return index;
}

int keyIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

ClientSessionCache* cacheOf(SSL* ssl) {
  return static_cast<ClientSessionCache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cacheIndex()));
}

// OpenSSL hands over a reference to every session a server grants (TLS 1.3: one per ticket).
int onNewSession(SSL* ssl, SSL_SESSION* session) {
  const auto* key = static_cast<const std::string*>(SSL_get_ex_data(ssl, keyIndex()));
  ClientSessionCache* cache = cacheOf(ssl);
  if (key == nullptr || cache == nullptr || SSL_SESSION_is_resumable(session) != 1) return 0;
  cache->put(*key, session);
  return 1;
}

}  // namespace

void enableServerTickets(SSL_CTX* server) {
  SSL_CTX_clear_options(server, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(server, 1);
  SSL_CTX_set_timeout(server, kSessionSeconds);
  // Resuming a session whose client was verified requires a session context.
  SSL_CTX_set_session_id_context(server, kSessionContext, sizeof kSessionContext - 1);
}

void enableClientSessionCache(SSL_CTX* client) {
  SSL_CTX_set_ex_data(client, cacheIndex(), new ClientSessionCache());
  SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_timeout(client, kSessionSeconds);
  SSL_CTX_sess_set_new_cb(client, &onNewSession);
}

void offerCachedSession(SSL* ssl, const std::string* key) {
  SSL_set_ex_data(ssl, keyIndex(), const_cast<std::string*>(key));
  ClientSessionCache* cache = cacheOf(ssl);
  if (cache == nullptr) return;
  if (SSL_SESSION* session = cache->take(*key)) {
    SSL_set_session(ssl, session);
    SSL_SESSION_free(session);
  }
}

std::string checkResumedPeer(SSL* ssl, PeerVerification& verification) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return "no_client_cert";
  if (X509_cmp_current_time(X509_get0_notAfter(peer)) <= 0) return "expired";
  LeafIdentity identity = checkLeafIdentity(peer, verification.trust_domain);
  if (!identity.failure.empty()) return identity.failure;
  if (!verification.expected_id.empty() && identity.spiffe_id != verification.expected_id) {
    verification.peer_id = identity.spiffe_id;
    return "identity_mismatch";
  }
  verification.peer_id = std::move(identity.spiffe_id);
  return "";
}

}  // namespace peergate::proxy
