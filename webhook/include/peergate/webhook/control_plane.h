#pragma once

// The control plane the proxies talk to (docs/control-plane.md), on its own HTTPS port (15012,
// as istiod's): the workload CA and the policy feed.
//
//   POST /v1/certificates   {"csr": PEM}  + Authorization: Bearer <pod service-account token>
//        → {"certificateChain": PEM, "rootCertificates": PEM, "notAfter": RFC 3339}
//   GET  /v1/policy?pod=NS/NAME[&version=V][&waitSeconds=S]  + the same bearer token
//        → {"version", "rootCertificates", the policy (validation/dataplane_policy.h)}
//        held until the policy's version differs from V, at most S seconds (long-poll).
//
// Errors are JSON {"error": {"code", "message"}} with 400, 401, 403, 404, 413, 429 or 503.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"
#include "peergate/webhook/token_auth.h"

namespace peergate::webhook {

struct ControlPlaneMetrics {
  explicit ControlPlaneMetrics(MetricsRegistry& registry);
  Counter& certificates;   // peergate_ca_certificates_total{result}
  Gauge& ca_expiry;        // peergate_ca_cert_expiry_timestamp_seconds
  Counter& ca_reloads;     // peergate_ca_reloads_total{result}
  Counter& feed_requests;  // peergate_policy_feed_requests_total{result}
  Gauge& feed_waiting;     // peergate_policy_feed_waiting
};

struct WorkloadCaOptions {
  std::string dir;  // ca.pem + ca-key.pem (a mounted Secret), optional trust-bundle.pem
  std::chrono::seconds cert_ttl{std::chrono::hours(24)};
  std::chrono::hours expiry_warning{24 * 7};  // warn this long before the root expires
};

// The mesh root that signs proxy certificates, re-read when its files change (a rotated
// Secret). The trust bundle handed to proxies is ca.pem plus trust-bundle.pem when present (the
// previous root during a rotation).
class WorkloadCa {
 public:
  WorkloadCa(WorkloadCaOptions options, ControlPlaneMetrics& metrics);
  ~WorkloadCa();
  WorkloadCa(const WorkloadCa&) = delete;
  WorkloadCa& operator=(const WorkloadCa&) = delete;

  bool loadInitial(std::string& error);
  // Re-reads the files; true when a changed, valid CA was swapped in.
  bool reloadIfChanged();

  struct Issued {
    std::string certificate_pem;
    std::string roots_pem;
    std::chrono::system_clock::time_point not_after;
  };
  // Signs a proxy's CSR for exactly `spiffe_uri`; errors from identity::signWorkloadCsr.
  validation::Result<Issued> sign(std::string_view csr_pem, const std::string& spiffe_uri) const;
  std::string rootsPem() const;
  // True and logged once per day when the root expires within the warning window.
  bool expiringSoon(std::chrono::system_clock::time_point now);

  // Re-reads the files and checks the expiry every `interval` on a background thread.
  void startWatching(std::chrono::milliseconds interval);
  void stop();

 private:
  struct Material;
  std::shared_ptr<const Material> material() const;

  const WorkloadCaOptions options_;
  ControlPlaneMetrics& metrics_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Material> material_;
  std::string failed_content_;
  std::chrono::steady_clock::time_point last_warning_{};

  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

struct ControlPlaneOptions {
  std::string bind_address = "0.0.0.0";
  int port = 15012;                   // 0: ephemeral
  std::string trust_domain;           // "" = the mesh config's
  std::chrono::seconds max_wait{60};  // longest long-poll hold
  int worker_threads = 128;           // each waiting proxy holds one
  std::size_t max_body_bytes = std::size_t{64} << 10;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds poll_slice{250};  // how often a held request re-checks the CA/stop
};

// The HTTPS server for both endpoints. Serving certificate from the CertReloader (the webhook's
// own), decisions from the StateStore, identities from the TokenAuthenticator.
class ControlPlaneServer {
 public:
  ControlPlaneServer(ControlPlaneOptions options, CertReloader& certs, const StateStore& store,
                     WorkloadCa& ca, TokenAuthenticator& tokens, ControlPlaneMetrics& metrics);
  ~ControlPlaneServer();
  ControlPlaneServer(const ControlPlaneServer&) = delete;
  ControlPlaneServer& operator=(const ControlPlaneServer&) = delete;

  bool start(std::string& error);
  int port() const { return port_; }
  // Held long-polls answer at once with what they have; then the listener stops.
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace peergate::webhook
