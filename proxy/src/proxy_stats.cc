#include "peergate/proxy/proxy_stats.h"

#include <ctime>
#include <sstream>

#include <nlohmann/json.hpp>

namespace peergate::proxy {
namespace {

std::string rfc3339(ProxyStats::Clock::time_point time) {
  const std::time_t t = ProxyStats::Clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// Label values here are our own words and numbers; escaping keeps a stray quote harmless.
std::string escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

std::size_t index(Direction direction) { return direction == Direction::Inbound ? 0 : 1; }

}  // namespace

std::string_view toString(Direction direction) {
  return direction == Direction::Inbound ? "inbound" : "outbound";
}

void ProxyStats::connection(Direction direction, int port, std::string_view security,
                            std::string_view outcome) {
  std::lock_guard lock(mutex_);
  ++connections_[{direction, port, std::string(security), std::string(outcome)}];
}

void ProxyStats::handshakeFailure(Direction direction, std::string_view reason) {
  std::lock_guard lock(mutex_);
  ++handshake_failures_[{direction, std::string(reason)}];
}

void ProxyStats::addBytes(Direction direction, std::size_t bytes) {
  bytes_[index(direction)].fetch_add(bytes, std::memory_order_relaxed);
}

void ProxyStats::setCertExpiry(Clock::time_point not_after) {
  cert_expiry_.store(static_cast<double>(Clock::to_time_t(not_after)));
}

void ProxyStats::observeInbound(int port, const std::string& source_ip, std::string_view security,
                                const std::string& identity, Clock::time_point now) {
  const bool mtls = security == "mtls";
  SourceKey key{port, std::string(security), mtls ? identity : source_ip};
  std::lock_guard lock(mutex_);
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    // Bounded: a scan from many addresses must not grow memory without limit.
    if (sources_.size() >= kMaxSources) {
      ++sources_dropped_;
      return;
    }
    it = sources_.emplace(std::move(key), SourceSeen{}).first;
  }
  it->second.ip = source_ip;
  ++it->second.count;
  it->second.last_seen = now;
}

std::uint64_t ProxyStats::connections(Direction direction, int port, std::string_view security,
                                      std::string_view outcome) const {
  std::lock_guard lock(mutex_);
  auto it = connections_.find({direction, port, std::string(security), std::string(outcome)});
  return it == connections_.end() ? 0 : it->second;
}

std::uint64_t ProxyStats::handshakeFailures(Direction direction, std::string_view reason) const {
  std::lock_guard lock(mutex_);
  auto it = handshake_failures_.find({direction, std::string(reason)});
  return it == handshake_failures_.end() ? 0 : it->second;
}

std::string ProxyStats::renderMetrics() const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  header(out, "peergate_proxy_connections_total", "counter",
         "Connections by direction, destination port, security and outcome.");
  for (const auto& [key, count] : connections_) {
    const auto& [direction, port, security, outcome] = key;
    out << "peergate_proxy_connections_total{direction=\"" << toString(direction) << "\",port=\""
        << port << "\",security=\"" << escape(security) << "\",outcome=\"" << escape(outcome)
        << "\"} " << count << '\n';
  }
  header(out, "peergate_proxy_handshake_failures_total", "counter",
         "Refused or failed TLS handshakes by direction and reason.");
  for (const auto& [key, count] : handshake_failures_) {
    out << "peergate_proxy_handshake_failures_total{direction=\"" << toString(key.first)
        << "\",reason=\"" << escape(key.second) << "\"} " << count << '\n';
  }
  header(out, "peergate_proxy_tls_resumptions_total", "counter",
         "mTLS handshakes that resumed a TLS session, by direction.");
  for (Direction direction : {Direction::Inbound, Direction::Outbound}) {
    out << "peergate_proxy_tls_resumptions_total{direction=\"" << toString(direction) << "\"} "
        << tlsResumptions(direction) << '\n';
  }
  header(out, "peergate_proxy_multiplexed_streams_total", "counter",
         "mTLS connections carried as streams of a shared connection to a peer proxy.");
  for (Direction direction : {Direction::Inbound, Direction::Outbound}) {
    out << "peergate_proxy_multiplexed_streams_total{direction=\"" << toString(direction) << "\"} "
        << muxStreams(direction) << '\n';
  }
  header(out, "peergate_proxy_bytes_total", "counter", "Bytes spliced, both ways, by listener.");
  for (Direction direction : {Direction::Inbound, Direction::Outbound}) {
    out << "peergate_proxy_bytes_total{direction=\"" << toString(direction) << "\"} "
        << bytes_[index(direction)].load() << '\n';
  }
  header(out, "peergate_proxy_active_connections", "gauge", "Connections open now.");
  out << "peergate_proxy_active_connections " << active_.load() << '\n';
  header(out, "peergate_proxy_cert_expiry_timestamp_seconds", "gauge",
         "notAfter of the workload certificate in use (Unix time).");
  out << "peergate_proxy_cert_expiry_timestamp_seconds " << std::fixed << cert_expiry_.load()
      << std::defaultfloat << '\n';
  header(out, "peergate_proxy_observed_sources_dropped_total", "counter",
         "Inbound sources not recorded because the table was full.");
  out << "peergate_proxy_observed_sources_dropped_total " << sources_dropped_ << '\n';
  return out.str();
}

std::string ProxyStats::renderObservations(const ProxyPolicy& policy, Clock::time_point now) const {
  nlohmann::ordered_json document;
  document["apiVersion"] = "peergate.io/v1alpha1";
  document["kind"] = "Observations";
  document["window"] = {{"start", rfc3339(started_)}, {"end", rfc3339(now)}};
  nlohmann::ordered_json entries = nlohmann::ordered_json::array();
  std::lock_guard lock(mutex_);
  for (const auto& [key, seen] : sources_) {
    nlohmann::ordered_json entry;
    entry["destination"] = {{"namespace", policy.pod_namespace},
                            {"workload", policy.workload_name},
                            {"pod", policy.pod_name},
                            {"port", key.port}};
    entry["security"] = key.security;
    entry["source"] = {{"ip", seen.ip},
                       {"identity", key.security == "mtls" ? key.source : ""},
                       {"workload", policy.workloadAt(seen.ip)}};
    entry["count"] = seen.count;
    entry["lastSeen"] = rfc3339(seen.last_seen);
    entries.push_back(std::move(entry));
  }
  document["observations"] = std::move(entries);
  return document.dump(2);
}

}  // namespace peergate::proxy
