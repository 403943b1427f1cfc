#include <catch2/catch.hpp>

#include "peergate/proxy/proxy_stats.h"
#include "peergate/validation/observations.h"

namespace peergate::proxy {
namespace {

using Clock = ProxyStats::Clock;

TEST_CASE("renders connection and handshake counters in the Prometheus text format", "[proxy]") {
  ProxyStats stats;
  stats.connection(Direction::Inbound, 8000, "mtls", "forwarded");
  stats.connection(Direction::Inbound, 8000, "mtls", "forwarded");
  stats.handshakeFailure(Direction::Outbound, "identity_mismatch");
  stats.addBytes(Direction::Inbound, 42);
  stats.opened();
  const std::string text = stats.renderMetrics();
  CHECK(text.find("# TYPE peergate_proxy_connections_total counter") != std::string::npos);
  CHECK(text.find("peergate_proxy_connections_total{direction=\"inbound\",port=\"8000\","
                  "security=\"mtls\",outcome=\"forwarded\"} 2\n") != std::string::npos);
  CHECK(text.find("peergate_proxy_handshake_failures_total{direction=\"outbound\","
                  "reason=\"identity_mismatch\"} 1\n") != std::string::npos);
  CHECK(text.find("peergate_proxy_bytes_total{direction=\"inbound\"} 42\n") != std::string::npos);
  CHECK(text.find("peergate_proxy_active_connections 1\n") != std::string::npos);
}

TEST_CASE("observations render as a document peergate check --observations reads", "[proxy]") {
  const Clock::time_point start = Clock::from_time_t(1'773'000'000);
  ProxyStats stats(start);
  stats.observeInbound(8000, "10.1.0.7", "plaintext", "", start + std::chrono::seconds(5));
  stats.observeInbound(8000, "10.1.0.7", "plaintext", "", start + std::chrono::seconds(9));
  stats.observeInbound(8000, "10.1.2.9", "mtls", "spiffe://cluster.local/ns/bar/sa/curl", start);
  stats.observeInbound(8443, "10.1.0.7", "tls_passthrough", "", start + std::chrono::seconds(7));
  ProxyPolicy policy;
  policy.pod_namespace = "foo";
  policy.pod_name = "httpbin-1";
  policy.workload_name = "httpbin";
  validation::PeerIndex peers;
  peers.workload_by_ip["10.1.0.7"] = "legacy/sleep";
  policy.peers = std::make_shared<const validation::PeerIndex>(std::move(peers));

  const auto decoded = validation::decodeObservations(
      stats.renderObservations(policy, start + std::chrono::seconds(60)), "identities.json");
  REQUIRE(decoded.ok());
  const validation::Observations& observations = decoded.value();
  CHECK(observations.window_start == "2026-03-08T20:00:00Z");
  CHECK(observations.window_end == "2026-03-08T20:01:00Z");
  REQUIRE(observations.entries.size() == 3);
  const validation::Observation& mtls = observations.entries[0];
  CHECK(mtls.security == "mtls");
  CHECK(mtls.source_identity == "spiffe://cluster.local/ns/bar/sa/curl");
  const validation::Observation& plain = observations.entries[1];
  CHECK(plain.namespace_name == "foo");
  CHECK(plain.workload == "httpbin");
  CHECK(plain.pod == "httpbin-1");
  CHECK(plain.port == 8000);
  CHECK(plain.security == "plaintext");
  CHECK(plain.source_ip == "10.1.0.7");
  CHECK(plain.source_workload == "legacy/sleep");
  CHECK(plain.count == 2);
  CHECK(plain.last_seen == "2026-03-08T20:00:09Z");
  // The client's own TLS, passed through: no mesh identity, recorded by IP like plaintext.
  const validation::Observation& passthrough = observations.entries[2];
  CHECK(passthrough.port == 8443);
  CHECK(passthrough.security == "tls_passthrough");
  CHECK(passthrough.source_ip == "10.1.0.7");
  CHECK(passthrough.source_identity.empty());
  CHECK(passthrough.count == 1);
}

TEST_CASE("the table of observed sources is bounded", "[proxy]") {
  ProxyStats stats;
  for (std::size_t i = 0; i < ProxyStats::kMaxSources + 10; ++i) {
    stats.observeInbound(80, "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                         "plaintext", "", Clock::now());
  }
  CHECK(stats.renderMetrics().find("peergate_proxy_observed_sources_dropped_total 10\n") !=
        std::string::npos);
}

}  // namespace
}  // namespace peergate::proxy
