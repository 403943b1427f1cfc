#include "peergate/proxy/proxy_server.h"

#include <csignal>
#include <thread>

#include <spdlog/spdlog.h>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "peergate/proxy/config_watcher.h"
#include "peergate/proxy/control_plane_client.h"
#include "session.h"

namespace peergate::proxy {
namespace {

std::unique_ptr<ConfigSource> makeConfigSource(const ProxyOptions& options, ProxyStats& stats) {
  if (!options.control_plane.address.empty()) {
    return std::make_unique<ControlPlaneClient>(options, stats);
  }
  return std::make_unique<ConfigWatcher>(options, stats);
}

using asio::ip::tcp;

constexpr std::chrono::milliseconds kAcceptBackoff{50};

struct Listener {
  tcp::acceptor acceptor;
  asio::steady_timer backoff;
  Direction direction;
  std::optional<uint16_t> app_port;          // --inbound-map: fixed destination port
  std::optional<tcp::endpoint> destination;  // --outbound-map: fixed destination
};

std::unique_ptr<Listener> bindListener(asio::io_context& io, const asio::ip::address& address,
                                       uint16_t port, Direction direction, std::string& error) {
  auto listener = std::unique_ptr<Listener>(
      new Listener{tcp::acceptor(io), asio::steady_timer(io), direction, {}, {}});
  const tcp::endpoint endpoint(address, port);
  std::error_code ec;
  listener->acceptor.open(endpoint.protocol(), ec);
  if (!ec) listener->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // [::] takes IPv4 as well, whatever net.ipv6.bindv6only says: dual-stack pods need both.
  if (!ec && address.is_v6() && address.is_unspecified()) {
    listener->acceptor.set_option(asio::ip::v6_only(false), ec);
  }
  if (!ec) listener->acceptor.bind(endpoint, ec);
  if (!ec) listener->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + address.to_string() + ":" + std::to_string(port) + ": " +
            ec.message();
    return nullptr;
  }
  return listener;
}

// Whether this host can listen on [::] for both families; false where IPv6 is compiled out or
// disabled at boot (ipv6.disable=1: no AF_INET6 sockets at all).
bool dualStackAvailable() {
  asio::io_context io;
  tcp::acceptor probe(io);
  std::error_code ec;
  probe.open(tcp::v6(), ec);
  if (!ec) probe.set_option(asio::ip::v6_only(false), ec);
  if (!ec) probe.bind(tcp::endpoint(asio::ip::address_v6::any(), 0), ec);
  return !ec;
}

}  // namespace

struct ProxyServer::Impl {
  explicit Impl(SessionContext session_context) : context(std::move(session_context)) {}

  // Declared first so it outlives the io_context: sessions destroyed with pending handlers
  // still unregister from it.
  SessionContext context;
  asio::io_context io{1};
  std::vector<std::unique_ptr<Listener>> listeners;
  std::thread thread;

  void accept(Listener& listener);
  void onAccepted(Listener& listener, tcp::socket socket);
  void closeListeners();
  void closeSessions();
};

void ProxyServer::Impl::accept(Listener& listener) {
  listener.acceptor.async_accept([this, &listener](const std::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) return;
    if (ec) {
      // EMFILE and friends: retrying at once would spin.
      spdlog::warn("{} accept failed: {}", toString(listener.direction), ec.message());
      listener.backoff.expires_after(kAcceptBackoff);
      listener.backoff.async_wait([this, &listener](const std::error_code& timer_ec) {
        if (!timer_ec) accept(listener);
      });
      return;
    }
    onAccepted(listener, std::move(socket));
    accept(listener);
  });
}

void ProxyServer::Impl::onAccepted(Listener& listener, tcp::socket socket) {
  if (context.live.size() >= context.limits.max_connections) {
    context.stats.connection(listener.direction, 0, "unknown", "limit");
    std::error_code ignored;
    socket.close(ignored);
    return;
  }
  std::shared_ptr<Session> session =
      listener.direction == Direction::Inbound
          ? makeInboundSession(context, std::move(socket), listener.app_port)
          : makeOutboundSession(context, std::move(socket), listener.destination);
  session->start();
}

void ProxyServer::Impl::closeListeners() {
  for (auto& listener : listeners) {
    std::error_code ignored;
    listener->acceptor.close(ignored);
    listener->backoff.cancel();
  }
}

void ProxyServer::Impl::closeSessions() {
  // close() never destroys a session (its handlers hold it), so iterating a copy is safe.
  const std::vector<Session*> sessions(context.live.begin(), context.live.end());
  for (Session* session : sessions) session->close();
}

ProxyServer::ProxyServer(ProxyOptions options, ProxyStats& stats)
    : options_(std::move(options)), stats_(stats), config_(makeConfigSource(options_, stats_)) {}

ProxyServer::~ProxyServer() { stop(); }

bool ProxyServer::start(std::string& error) {
  // OpenSSL writes with plain write(2): a peer that reset the connection must cost that
  // connection an error, not the process a SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  asio::ip::address bind = asio::ip::make_address(options_.bind_address, ec);
  const asio::ip::address app =
      ec ? asio::ip::address() : asio::ip::make_address(options_.app_address, ec);
  if (ec) {
    error = "bad --bind-address or --app-address: " + ec.message();
    return false;
  }
  if (bind.is_v6() && bind.is_unspecified() && !dualStackAvailable()) {
    spdlog::info("no IPv6 on this host: listening on 0.0.0.0 instead of [::]");
    bind = asio::ip::address_v4::any();
  }
  bind_address_ = bind.to_string();
  if (!config_->loadInitial(error)) return false;
  impl_ = std::make_unique<Impl>(
      SessionContext{stats_, options_.limits, app, *config_, options_.multiplex, {}, {}});
  auto add = [&](int port, Direction direction) -> Listener* {
    std::unique_ptr<Listener> listener =
        bindListener(impl_->io, bind, static_cast<uint16_t>(port), direction, error);
    if (!listener) return nullptr;
    impl_->listeners.push_back(std::move(listener));
    return impl_->listeners.back().get();
  };
  if (options_.inbound_port >= 0) {
    Listener* listener = add(options_.inbound_port, Direction::Inbound);
    if (listener == nullptr) return false;
    inbound_port_ = listener->acceptor.local_endpoint().port();
  }
  if (options_.outbound_port >= 0) {
    Listener* listener = add(options_.outbound_port, Direction::Outbound);
    if (listener == nullptr) return false;
    outbound_port_ = listener->acceptor.local_endpoint().port();
  }
  for (const InboundMapping& mapping : options_.inbound_map) {
    Listener* listener = add(mapping.listen_port, Direction::Inbound);
    if (listener == nullptr) return false;
    listener->app_port = mapping.app_port;
    inbound_map_ports_.push_back(listener->acceptor.local_endpoint().port());
  }
  for (const OutboundMapping& mapping : options_.outbound_map) {
    Listener* listener = add(mapping.listen_port, Direction::Outbound);
    if (listener == nullptr) return false;
    listener->destination = tcp::endpoint(asio::ip::make_address(mapping.ip), mapping.port);
    outbound_map_ports_.push_back(listener->acceptor.local_endpoint().port());
  }
  for (auto& listener : impl_->listeners) impl_->accept(*listener);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  config_->startWatching();
  ready_ = true;
  spdlog::info("proxy listening: inbound {}, outbound {}, {} mapped inbound, {} mapped outbound",
               inbound_port_, outbound_port_, inbound_map_ports_.size(),
               outbound_map_ports_.size());
  return true;
}

bool ProxyServer::drain(std::chrono::milliseconds timeout) {
  ready_ = false;
  if (!impl_) return true;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->closeListeners();
    impl->context.mux_pool.retireAll();  // each closes with its last stream
  });
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (stats_.active() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void ProxyServer::stop() {
  ready_ = false;
  config_->stop();
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->closeListeners();
    impl->closeSessions();
    impl->io.stop();
  });
  impl_->thread.join();
}

}  // namespace peergate::proxy
