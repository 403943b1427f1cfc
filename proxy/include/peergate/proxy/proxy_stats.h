#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "peergate/proxy/proxy_policy.h"

namespace peergate::proxy {

enum class Direction { Inbound, Outbound };
std::string_view toString(Direction direction);  // "inbound", "outbound"

// Counters of the data path and the inbound sources seen. The event loop writes, the admin
// thread reads: counters sit behind one mutex (touched once per connection), bytes and the
// active gauge are atomics (touched per transfer).
class ProxyStats {
 public:
  using Clock = std::chrono::system_clock;
  static constexpr std::size_t kMaxSources = 4096;  // distinct sources kept per process

  explicit ProxyStats(Clock::time_point started = Clock::now()) : started_(started) {}

  // One per connection, when its fate is known. security: "mtls" | "plaintext" |
  // "tls_passthrough" (inbound PERMISSIVE: TLS without a mesh ALPN, the client's own TLS with
  // the app, passed through); outcome: "forwarded", "rejected", "upstream_failed", "limit".
  void connection(Direction direction, int port, std::string_view security,
                  std::string_view outcome);
  void handshakeFailure(Direction direction, std::string_view reason);
  void addBytes(Direction direction, std::size_t bytes);
  // An mTLS handshake that resumed a TLS session (its peer re-checked, not re-verified).
  void tlsResumed(Direction direction) {
    resumed_[direction == Direction::Inbound ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
  }
  // A connection carried as a stream of a shared mTLS connection (no handshake of its own).
  void muxStream(Direction direction) {
    mux_streams_[direction == Direction::Inbound ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
  }
  void opened() { active_.fetch_add(1, std::memory_order_relaxed); }
  void closed() { active_.fetch_sub(1, std::memory_order_relaxed); }
  void setCertExpiry(Clock::time_point not_after);
  // An accepted inbound connection: "mtls" with the peer's SPIFFE ID as `identity`, or
  // "plaintext" / "tls_passthrough" (no mesh identity: recorded by source IP).
  void observeInbound(int port, const std::string& source_ip, std::string_view security,
                      const std::string& identity, Clock::time_point now);

  std::int64_t active() const { return active_.load(std::memory_order_relaxed); }
  std::uint64_t connections(Direction direction, int port, std::string_view security,
                            std::string_view outcome) const;
  std::uint64_t handshakeFailures(Direction direction, std::string_view reason) const;
  std::uint64_t tlsResumptions(Direction direction) const {
    return resumed_[direction == Direction::Inbound ? 0 : 1].load(std::memory_order_relaxed);
  }

  // Prometheus text exposition format.
  std::uint64_t muxStreams(Direction direction) const {
    return mux_streams_[direction == Direction::Inbound ? 0 : 1].load(std::memory_order_relaxed);
  }
  std::string renderMetrics() const;
  // docs/observations.md (apiVersion peergate.io/v1alpha1, kind Observations): usable as
  // `peergate check --observations`. Pod and workload names come from `policy`.
  std::string renderObservations(const ProxyPolicy& policy, Clock::time_point now) const;

 private:
  struct SourceKey {
    int port = 0;
    std::string security;
    std::string source;  // identity for mTLS, IP otherwise
    auto operator<=>(const SourceKey&) const = default;
  };
  struct SourceSeen {
    std::string ip;  // last source IP
    std::uint64_t count = 0;
    Clock::time_point last_seen;
  };

  const Clock::time_point started_;
  mutable std::mutex mutex_;
  std::map<std::tuple<Direction, int, std::string, std::string>, std::uint64_t> connections_;
  std::map<std::pair<Direction, std::string>, std::uint64_t> handshake_failures_;
  std::map<SourceKey, SourceSeen> sources_;
  std::uint64_t sources_dropped_ = 0;
  std::atomic<std::uint64_t> bytes_[2] = {0, 0};
  std::atomic<std::uint64_t> resumed_[2] = {0, 0};
  std::atomic<std::uint64_t> mux_streams_[2] = {0, 0};
  std::atomic<std::int64_t> active_{0};
  std::atomic<double> cert_expiry_{0};
};

}  // namespace peergate::proxy
