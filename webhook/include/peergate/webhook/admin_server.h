#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

struct AdminServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 15014;  // 0 binds an ephemeral port
  int max_staleness_seconds = 300;
};

// What /readyz reports; `ready` is the conjunction of the others.
struct Readiness {
  bool ready = false;
  bool synced = false;                  // a complete cluster state has been published
  std::optional<double> stale_seconds;  // since the last confirmed sync; none before the first
  bool cert_loaded = false;
  bool cert_expired = false;
  bool draining = false;
  std::vector<std::string> reasons;  // why not ready, for humans

  std::string json(int max_staleness_seconds) const;
};

// Computes readiness from its inputs at a point in time (pure, for tests).
Readiness evaluateReadiness(const StateStore& state, const CertReloader* certs, bool draining,
                            int max_staleness_seconds, StateStore::Clock::time_point now,
                            std::chrono::system_clock::time_point wall_now);

// The plaintext admin port, apart from the admission port (as Istio's 15014):
//   GET /healthz  200 "ok" while the process serves HTTP (liveness);
//   GET /readyz   200 or 503 with {ready, synced, stale_seconds, cert_loaded, draining, ...}:
//                 ready after the first complete cluster-state sync with a loaded, unexpired
//                 serving certificate, not while draining and not when the state is older than
//                 max_staleness_seconds;
//   GET /metrics  the registry in the Prometheus text format 0.0.4.
class AdminServer {
 public:
  AdminServer(AdminServerOptions options, const StateStore& state, const CertReloader* certs,
              const MetricsRegistry& registry);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  bool start(std::string& error);
  int port() const { return port_; }
  void shutdown();

  // Readiness goes false at once (the first step of a graceful drain).
  void setDraining(bool draining) { draining_.store(draining); }
  Readiness readiness() const;

 private:
  class Impl;
  const AdminServerOptions options_;
  const StateStore& state_;
  const CertReloader* certs_;
  const MetricsRegistry& registry_;
  std::atomic<bool> draining_{false};
  std::unique_ptr<Impl> impl_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace peergate::webhook
