// Outbound: to a pod that runs a proxy, originate mTLS and insist on the identity the cluster
// state gives that pod (secure naming); anywhere else, plaintext as the app sent it.
#include <spdlog/spdlog.h>

#include "peergate/proxy/client_hello.h"
#include "session.h"
#include "session_resumption.h"

namespace peergate::proxy {
namespace {

class OutboundSession final : public Session {
 public:
  OutboundSession(SessionContext& context, asio::ip::tcp::socket client,
                  std::optional<asio::ip::tcp::endpoint> fixed_destination)
      : Session(context, Direction::Outbound, std::move(client)),
        fixed_destination_(std::move(fixed_destination)) {}

  ~OutboundSession() override { settlePending(nullptr); }

  void start() override;

 private:
  std::shared_ptr<OutboundSession> self() {
    return std::static_pointer_cast<OutboundSession>(shared_from_this());
  }
  void onConnected(const std::error_code& ec);
  void originate();
  void onHandshake(const std::error_code& ec);
  void offerMux(SSL* ssl) const;
  void joinMux(const std::shared_ptr<MuxConnection>& connection);
  void onPendingSettled(const std::shared_ptr<MuxConnection>& connection);
  void connect();
  void settlePending(const std::shared_ptr<MuxConnection>& connection);
  std::string handshakeFailure(const std::error_code& ec) const;

  const std::optional<asio::ip::tcp::endpoint> fixed_destination_;
  asio::ip::tcp::endpoint destination_;
  std::optional<ProxiedPeer> peer_;
  std::shared_ptr<const ProxyPolicy> policy_;
  std::shared_ptr<const TlsContexts> tls_;
  PeerVerification verification_;
  std::string session_key_;  // which cached TLS session this destination resumes
  SSL* ssl_ = nullptr;       // owned by streams_[1]
  bool handshake_expired_ = false;
  bool settles_pending_ = false;  // the others to this destination wait for this handshake
};

void OutboundSession::start() {
  std::optional<asio::ip::tcp::endpoint> destination =
      fixed_destination_ ? fixed_destination_ : originalDestination(client_);
  if (!destination) return refuse(0, "plaintext", "no_original_dst");
  destination_ = *destination;
  policy_ = context_.config.policy();
  tls_ = context_.config.tls();
  if (const ProxiedPeer* peer = policy_->peerFor(destination_.address().to_string())) {
    peer_ = *peer;
    // Keyed by identity and address: a session proves who the server was when it was granted.
    session_key_ = peer_->spiffe_id + " " + destination_.address().to_string() + ":" +
                   std::to_string(destination_.port());
    if (context_.multiplex) {
      MuxPool& pool = context_.mux_pool;
      if (auto connection = pool.find(session_key_, tls_.get())) return joinMux(connection);
      if (pool.joinPending(session_key_, tls_.get(),
                           [self = self()](const std::shared_ptr<MuxConnection>& connection) {
                             self->onPendingSettled(connection);
                           })) {
        return;
      }
      pool.startPending(session_key_, tls_.get());
      settles_pending_ = true;
    }
  }
  connect();
}

void OutboundSession::connect() {
  connectUpstream(destination_,
                  [self = self()](const std::error_code& ec) { self->onConnected(ec); });
}

// Without a connection to join (that handshake failed, or the peer does not multiplex), this
// session tries on its own.
void OutboundSession::onPendingSettled(const std::shared_ptr<MuxConnection>& connection) {
  if (closed_) return;
  if (connection && connection->acceptsStreams()) return joinMux(connection);
  connect();
}

void OutboundSession::settlePending(const std::shared_ptr<MuxConnection>& connection) {
  if (!settles_pending_) return;
  settles_pending_ = false;
  context_.mux_pool.settle(session_key_, tls_, connection);
}

void OutboundSession::onConnected(const std::error_code& ec) {
  const int port = destination_.port();
  if (ec) {
    spdlog::info("outbound: cannot connect to {}:{}: {}", destination_.address().to_string(), port,
                 ec.message());
    record(port, peer_ ? "mtls" : "plaintext", "upstream_failed");
    return close();
  }
  if (peer_) return originate();
  streams_[0] = std::make_unique<PlainStream>(std::move(client_));
  streams_[1] = std::make_unique<PlainStream>(std::move(upstream_));
  record(port, "plaintext", "forwarded");
  startSplice();
}

void OutboundSession::originate() {
  verification_.trust_domain = policy_->trust_domain;
  verification_.expected_id = peer_->spiffe_id;
  SSL* ssl = tls_->newClientSsl(&verification_);
  if (ssl == nullptr) return refuse(destination_.port(), "mtls", "tls_error");
  offerCachedSession(ssl, &session_key_);
  offerMux(ssl);
  ssl_ = ssl;
  auto stream = std::make_unique<TlsStream>(std::move(upstream_), ssl);
  TlsStream& tls = *stream;
  streams_[1] = std::move(stream);
  armDeadline(context_.limits.handshake_timeout, [this] {
    handshake_expired_ = true;
    streams_[1]->close();
  });
  tls.handshake(false, [self = self()](const std::error_code& ec) { self->onHandshake(ec); });
}

std::string OutboundSession::handshakeFailure(const std::error_code& ec) const {
  if (!verification_.failure.empty()) return verification_.failure;
  if (handshake_expired_) return "handshake_timeout";
  if (ec.category() == tlsCategory()) {
    return classifyHandshakeError(static_cast<unsigned long>(ec.value()));
  }
  return "peer_closed";
}

void OutboundSession::onHandshake(const std::error_code& ec) {
  disarmDeadline();
  if (closed_) return;
  if (ec) {
    settlePending(nullptr);
    if (verification_.failure == "identity_mismatch") {
      spdlog::warn("outbound: {} presented {} but {} was expected (secure naming)",
                   destination_.address().to_string(), verification_.peer_id, peer_->spiffe_id);
    }
    return refuse(destination_.port(), "mtls", handshakeFailure(ec));
  }
  if (SSL_session_reused(ssl_) == 1) {
    context_.stats.tlsResumed(direction_);
    verification_.failure = checkResumedPeer(ssl_, verification_);
    if (!verification_.failure.empty()) {
      return refuse(destination_.port(), "mtls", verification_.failure);
    }
  }
  if (negotiatedMux(ssl_)) {
    std::unique_ptr<TlsStream> tls(static_cast<TlsStream*>(streams_[1].release()));
    auto connection = std::make_shared<MuxConnection>(std::move(tls), MuxConnection::Role::Client,
                                                      peer_->spiffe_id);
    connection->start();
    joinMux(connection);
    return settlePending(connection);
  }
  settlePending(nullptr);
  streams_[0] = std::make_unique<PlainStream>(std::move(client_));
  record(destination_.port(), "mtls", "forwarded");
  startSplice();
}

// Offered before the mesh protocols, so a peer that knows it selects it and one that does not
// (an older peergate, an Istio sidecar) selects what it knows.
void OutboundSession::offerMux(SSL* ssl) const {
  if (!context_.multiplex) return;
  static const std::string offer = [] {
    std::vector<std::string_view> protocols{kMuxAlpn};
    protocols.insert(protocols.end(), std::begin(kOutboundAlpn), std::end(kOutboundAlpn));
    return alpnWireFormat(protocols);
  }();
  SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(offer.data()),
                      static_cast<unsigned int>(offer.size()));
}

// A stream on a verified connection to the same identity and address: no new handshake.
void OutboundSession::joinMux(const std::shared_ptr<MuxConnection>& connection) {
  streams_[1] = connection->open();
  streams_[0] = std::make_unique<PlainStream>(std::move(client_));
  context_.stats.muxStream(direction_);
  record(destination_.port(), "mtls", "forwarded");
  startSplice();
}

}  // namespace

std::shared_ptr<Session> makeOutboundSession(
    SessionContext& context, asio::ip::tcp::socket client,
    std::optional<asio::ip::tcp::endpoint> fixed_destination) {
  return std::make_shared<OutboundSession>(context, std::move(client),
                                           std::move(fixed_destination));
}

}  // namespace peergate::proxy
