#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "mux_connection.h"
#include "peergate/proxy/config_source.h"
#include "peergate/proxy/options.h"
#include "peergate/proxy/proxy_stats.h"
#include "peergate/proxy/tls_contexts.h"
#include "stream.h"

namespace peergate::proxy {

class Session;

// What every session shares; lives as long as the ProxyServer (longer than its io_context).
struct SessionContext {
  ProxyStats& stats;
  const ProxyLimits& limits;
  asio::ip::address app_address;
  const ConfigSource& config;
  bool multiplex = true;              // outbound offers kMuxAlpn to proxied destinations
  std::unordered_set<Session*> live;  // for drain and shutdown; touched only on the loop
  MuxPool mux_pool;                   // outbound mux connections; touched only on the loop
};

// One accepted connection, from accept to close. Owned by the handlers it has pending (each
// holds a shared_ptr), so it goes away when nothing is left to wait for. Single-threaded: every
// member runs on the io_context thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionContext& context, Direction direction, asio::ip::tcp::socket client);
  virtual ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  virtual void start() = 0;
  // Closes both sides at once (errors, timeouts, shutdown); idempotent.
  void close();

 protected:
  // Calls `on_expiry` after `timeout` unless disarmDeadline() came first.
  void armDeadline(std::chrono::milliseconds timeout, std::function<void()> on_expiry);
  void disarmDeadline();
  // Connects to `target` within the handshake timeout.
  void connectUpstream(const asio::ip::tcp::endpoint& target,
                       std::function<void(const std::error_code&)> on_done);
  // Both streams are set: copies both ways until both ends finish or the idle timeout.
  void startSplice();
  // Counts the connection once, in the metric of its fate.
  void record(int port, std::string_view security, std::string_view outcome);
  void refuse(int port, std::string_view security, std::string_view reason);

  SessionContext& context_;
  const Direction direction_;
  asio::ip::tcp::socket client_;        // the accepted socket until it becomes streams_[0]
  asio::ip::tcp::socket upstream_;      // the connected socket until it becomes streams_[1]
  std::unique_ptr<Stream> streams_[2];  // [0] the accepting side, [1] the upstream side
  bool closed_ = false;

 private:
  void pump(int from);
  void waitAfterSend(int from);
  void waitThenPump(int from);
  void later(void (Session::*step)(int), int from);
  void onReadError(int from, const std::error_code& ec);
  void writeOut(int from, std::size_t offset, std::size_t size);
  void onShutdown(int from, const std::error_code& ec);
  void armIdle();

  asio::steady_timer deadline_;
  std::uint64_t deadline_generation_ = 0;
  asio::steady_timer idle_;
  std::chrono::steady_clock::time_point last_activity_{};
  std::unique_ptr<char[]> buffers_[2];
  bool finished_[2] = {false, false};
  bool drained_[2] = {false, false};  // the last read left nothing behind in the socket
  bool recorded_ = false;
};

// Inbound: the destination port (SO_ORIGINAL_DST or a fixed mapping) picks the mode.
std::shared_ptr<Session> makeInboundSession(SessionContext& context, asio::ip::tcp::socket client,
                                            std::optional<uint16_t> fixed_app_port);
// Inbound: one stream of a mux connection from a peer proxy, already verified as `peer_id`,
// opened to `port`.
std::shared_ptr<Session> makeInboundStreamSession(SessionContext& context,
                                                  std::unique_ptr<MuxStream> stream, int port,
                                                  std::string source_ip, std::string peer_id);
// Outbound: mTLS to destinations with a proxy, plaintext elsewhere.
std::shared_ptr<Session> makeOutboundSession(
    SessionContext& context, asio::ip::tcp::socket client,
    std::optional<asio::ip::tcp::endpoint> fixed_destination);

// The destination an iptables REDIRECT rewrote (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST); nullopt
// when the connection was not redirected. An IPv4 connection accepted by a dual-stack listener
// gets its IPv4 destination (a.b.c.d, never ::ffff:a.b.c.d).
std::optional<asio::ip::tcp::endpoint> originalDestination(asio::ip::tcp::socket& socket);

// a.b.c.d for ::ffff:a.b.c.d (an IPv4 peer of a dual-stack socket); any other address as it is.
asio::ip::address withoutV4Mapping(const asio::ip::address& address);

}  // namespace peergate::proxy
