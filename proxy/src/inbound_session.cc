// Inbound: STRICT (mTLS only), PERMISSIVE (sniff: a ClientHello offering a mesh ALPN → mTLS,
// other TLS → passed through to the app, anything else → plaintext) or DISABLE (bytes as they
// are), per destination port, then on to the app.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include <spdlog/spdlog.h>

#include "peergate/proxy/client_hello.h"
#include "session.h"
#include "session_resumption.h"

namespace peergate::proxy {
namespace {

using validation::Mode;

enum class Sniffed {
  MeshTls,   // a ClientHello that offers a mesh ALPN (or, STRICT, any TLS record)
  OtherTls,  // TLS without a mesh ALPN: the client's own TLS with the app (or unreadable)
  Plaintext,
  Silent,  // nothing within the sniff timeout
};

// STRICT only needs the record header's first two bytes: every TLS is terminated there.
constexpr std::size_t kStrictPeekBytes = 2;
// PERMISSIVE's first look; most ClientHellos fit, a larger one grows the buffer to its size.
constexpr std::size_t kFirstPeekBytes = 2048;
constexpr std::chrono::milliseconds kPartialPeekRetry{2};

class InboundSession final : public Session {
 public:
  InboundSession(SessionContext& context, asio::ip::tcp::socket client,
                 std::optional<uint16_t> fixed_app_port)
      : Session(context, Direction::Inbound, std::move(client)),
        fixed_app_port_(fixed_app_port),
        retry_(client_.get_executor()) {}
  // One stream of a mux connection: the handshake and identity are the connection's.
  InboundSession(SessionContext& context, std::unique_ptr<MuxStream> stream, int port,
                 std::string source_ip, std::string peer_id)
      : Session(context, Direction::Inbound,
                asio::ip::tcp::socket(stream->connection().executor())),
        retry_(client_.get_executor()),
        port_(port),
        source_ip_(std::move(source_ip)),
        arrived_over_ipv6_(source_ip_.find(':') != std::string::npos),
        mux_stream_(std::move(stream)) {
    verification_.peer_id = std::move(peer_id);
  }

  void start() override;

 private:
  std::shared_ptr<InboundSession> self() {
    return std::static_pointer_cast<InboundSession>(shared_from_this());
  }
  void sniff(std::chrono::milliseconds timeout);
  void peek();
  void retryPeek();
  void onPeeked(std::size_t size);
  void onSniffed(Sniffed sniffed);
  void acceptTls();
  void onHandshake(const std::error_code& ec);
  void serveMux();
  void startStream();
  void forwardPlain(std::string_view security);
  void forward(std::string_view security);
  void connectApp(const asio::ip::address& address, std::string_view security);
  std::string handshakeFailure(const std::error_code& ec) const;

  const std::optional<uint16_t> fixed_app_port_;
  asio::steady_timer retry_;
  int port_ = 0;
  std::string source_ip_;
  bool arrived_over_ipv6_ = false;  // not an IPv4 client of the dual-stack listener
  Mode mode_ = Mode::Permissive;
  std::shared_ptr<const ProxyPolicy> policy_;
  std::shared_ptr<const TlsContexts> tls_;
  PeerVerification verification_;
  SSL* ssl_ = nullptr;                     // owned by streams_[0]
  std::unique_ptr<MuxStream> mux_stream_;  // a stream session's side, until it is streams_[0]
  std::vector<unsigned char> peeked_;      // while sniffing: the first bytes, still in the socket
  bool saw_tls_ = false;                   // they began as a TLS record
  bool sniff_expired_ = false;
  bool handshake_expired_ = false;
};

void InboundSession::start() {
  if (mux_stream_) return startStream();
  std::error_code ec;
  const asio::ip::address source = client_.remote_endpoint(ec).address();
  arrived_over_ipv6_ = source.is_v6() && !source.to_v6().is_v4_mapped();
  source_ip_ = withoutV4Mapping(source).to_string();
  if (fixed_app_port_) {
    port_ = *fixed_app_port_;
  } else if (std::optional<asio::ip::tcp::endpoint> original = originalDestination(client_)) {
    port_ = original->port();
  } else {
    refuse(0, "plaintext", "no_original_dst");
    return;
  }
  // Both snapshots are taken once: a reload applies to the next connection.
  policy_ = context_.config.policy();
  tls_ = context_.config.tls();
  mode_ = policy_->modeForPort(port_);
  switch (mode_) {
    case Mode::Disable:
      forwardPlain("plaintext");
      return;
    case Mode::Strict:
      peeked_.resize(kStrictPeekBytes);
      sniff(context_.limits.handshake_timeout);
      return;
    default:
      peeked_.resize(kFirstPeekBytes);
      sniff(context_.limits.sniff_timeout);
      return;
  }
}

// Looks at the first bytes without consuming them, so whichever path follows reads them again.
void InboundSession::sniff(std::chrono::milliseconds timeout) {
  armDeadline(timeout, [this] {
    sniff_expired_ = true;
    std::error_code ignored;
    client_.cancel(ignored);
    retry_.cancel();
  });
  peek();
}

void InboundSession::peek() {
  client_.async_wait(asio::socket_base::wait_read, [self = self()](const std::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      if (self->sniff_expired_) return self->onSniffed(Sniffed::Silent);
      return self->close();
    }
    const ssize_t got = ::recv(self->client_.native_handle(), self->peeked_.data(),
                               self->peeked_.size(), MSG_PEEK | MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return self->peek();
      return self->close();
    }
    if (got == 0) return self->onSniffed(Sniffed::Plaintext);
    self->onPeeked(static_cast<std::size_t>(got));
  });
}

// The socket stays readable while bytes wait in it, so a partial record is looked at again a
// little later instead of spinning on readiness.
void InboundSession::retryPeek() {
  retry_.expires_after(kPartialPeekRetry);
  retry_.async_wait([self = self()](const std::error_code& ec) {
    if (self->closed_) return;
    if (ec && self->sniff_expired_) return self->onSniffed(Sniffed::Silent);
    self->peek();
  });
}

void InboundSession::onPeeked(std::size_t size) {
  const ClientHelloScan scan = scanClientHello(std::span(peeked_.data(), size));
  if (scan.status == ClientHelloScan::Status::NotTls) return onSniffed(Sniffed::Plaintext);
  saw_tls_ = true;
  if (mode_ == Mode::Strict) {
    if (size >= kStrictPeekBytes) return onSniffed(Sniffed::MeshTls);
    return retryPeek();
  }
  if (scan.status != ClientHelloScan::Status::NeedMore) {
    return onSniffed(offersMeshAlpn(scan) ? Sniffed::MeshTls : Sniffed::OtherTls);
  }
  if (size == peeked_.size()) {  // the buffer was full: more may be waiting already
    peeked_.resize(std::min(std::max(scan.needed, 2 * size), kMaxClientHelloBytes));
    return peek();
  }
  retryPeek();
}

void InboundSession::onSniffed(Sniffed sniffed) {
  disarmDeadline();
  std::vector<unsigned char>().swap(peeked_);
  // PERMISSIVE: a TLS record cut short by the sniff timeout is TLS without a mesh ALPN.
  if (sniffed == Sniffed::Silent && saw_tls_ && mode_ != Mode::Strict) sniffed = Sniffed::OtherTls;
  switch (sniffed) {
    case Sniffed::MeshTls:
      return acceptTls();
    case Sniffed::OtherTls:
      if (mode_ == Mode::Strict) return acceptTls();
      return forwardPlain("tls_passthrough");
    default:
      if (mode_ != Mode::Strict) return forwardPlain("plaintext");
      refuse(port_, "plaintext", sniffed == Sniffed::Silent ? "handshake_timeout" : "plaintext");
  }
}

void InboundSession::acceptTls() {
  verification_.trust_domain = policy_->trust_domain;
  SSL* ssl = tls_->newServerSsl(&verification_);
  if (ssl == nullptr) return refuse(port_, "mtls", "tls_error");
  ssl_ = ssl;
  auto stream = std::make_unique<TlsStream>(std::move(client_), ssl);
  TlsStream& tls = *stream;
  streams_[0] = std::move(stream);
  armDeadline(context_.limits.handshake_timeout, [this] {
    handshake_expired_ = true;
    streams_[0]->close();
  });
  tls.handshake(true, [self = self()](const std::error_code& ec) { self->onHandshake(ec); });
}

std::string InboundSession::handshakeFailure(const std::error_code& ec) const {
  if (!verification_.failure.empty()) return verification_.failure;
  if (handshake_expired_) return "handshake_timeout";
  if (ec.category() == tlsCategory()) {
    return classifyHandshakeError(static_cast<unsigned long>(ec.value()));
  }
  return "peer_closed";  // e.g. the client refused our certificate and hung up
}

void InboundSession::onHandshake(const std::error_code& ec) {
  disarmDeadline();
  if (closed_) return;
  if (ec) return refuse(port_, "mtls", handshakeFailure(ec));
  // A resumed session ran no verify callback: its certificate is checked again here.
  if (SSL_session_reused(ssl_) == 1) {
    context_.stats.tlsResumed(direction_);
    verification_.failure = checkResumedPeer(ssl_, verification_);
    if (!verification_.failure.empty()) return refuse(port_, "mtls", verification_.failure);
  }
  if (negotiatedMux(ssl_)) return serveMux();
  context_.stats.observeInbound(port_, source_ip_, "mtls", verification_.peer_id,
                                ProxyStats::Clock::now());
  forward("mtls");
}

// The peer proxy will carry many connections over this one; each stream it opens becomes a
// session of its own. This session's part ends here, without a connection of its own to count.
void InboundSession::serveMux() {
  std::unique_ptr<TlsStream> tls(static_cast<TlsStream*>(streams_[0].release()));
  auto connection = std::make_shared<MuxConnection>(std::move(tls), MuxConnection::Role::Server,
                                                    verification_.peer_id);
  connection->start([&context = context_, port = port_, source = source_ip_,
                     peer = verification_.peer_id](std::unique_ptr<MuxStream> stream) {
    if (context.live.size() >= context.limits.max_connections) {
      context.stats.connection(Direction::Inbound, port, "mtls", "limit");
      return;  // the stream is reset as it goes
    }
    makeInboundStreamSession(context, std::move(stream), port, source, peer)->start();
  });
  close();
}

// The policy is looked at again for every stream: a port switched to DISABLE since the
// connection was set up takes no more mTLS.
void InboundSession::startStream() {
  policy_ = context_.config.policy();
  mode_ = policy_->modeForPort(port_);
  streams_[0] = std::move(mux_stream_);
  context_.stats.muxStream(direction_);
  if (mode_ == Mode::Disable) return refuse(port_, "mtls", "mtls_on_disabled_port");
  context_.stats.observeInbound(port_, source_ip_, "mtls", verification_.peer_id,
                                ProxyStats::Clock::now());
  forward("mtls");
}

// Plaintext, or TLS that is not ours to terminate ("tls_passthrough"): the bytes go to the app
// as they came.
void InboundSession::forwardPlain(std::string_view security) {
  streams_[0] = std::make_unique<PlainStream>(std::move(client_));
  context_.stats.observeInbound(port_, source_ip_, security, "", ProxyStats::Clock::now());
  forward(security);
}

void InboundSession::forward(std::string_view security) {
  connectApp(context_.app_address, security);
}

void InboundSession::connectApp(const asio::ip::address& address, std::string_view security) {
  const asio::ip::tcp::endpoint app(address, static_cast<uint16_t>(port_));
  connectUpstream(app, [self = self(), security, address](const std::error_code& ec) {
    // An IPv6 client of an app that listens on ::1 only: 127.0.0.1 refuses, ::1 takes it. (An
    // app on [::] or 0.0.0.0 accepts 127.0.0.1, so the first attempt is the one that counts.)
    if (ec == asio::error::connection_refused && self->arrived_over_ipv6_ &&
        address == asio::ip::address_v4::loopback()) {
      std::error_code ignored;
      self->upstream_.close(ignored);  // reopened for the other family by the next connect
      return self->connectApp(asio::ip::address_v6::loopback(), security);
    }
    if (ec) {
      spdlog::warn("inbound: cannot connect to the app on port {}: {}", self->port_, ec.message());
      self->record(self->port_, security, "upstream_failed");
      return self->close();
    }
    self->streams_[1] = std::make_unique<PlainStream>(std::move(self->upstream_));
    self->record(self->port_, security, "forwarded");
    self->startSplice();
  });
}

}  // namespace

std::shared_ptr<Session> makeInboundStreamSession(SessionContext& context,
                                                  std::unique_ptr<MuxStream> stream, int port,
                                                  std::string source_ip, std::string peer_id) {
  return std::make_shared<InboundSession>(context, std::move(stream), port, std::move(source_ip),
                                          std::move(peer_id));
}

std::shared_ptr<Session> makeInboundSession(SessionContext& context, asio::ip::tcp::socket client,
                                            std::optional<uint16_t> fixed_app_port) {
  return std::make_shared<InboundSession>(context, std::move(client), fixed_app_port);
}

}  // namespace peergate::proxy
