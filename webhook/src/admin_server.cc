#include "peergate/webhook/admin_server.h"

#include <cmath>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace peergate::webhook {

class AdminServer::Impl {
 public:
  httplib::Server server;
};

std::string Readiness::json(int max_staleness_seconds) const {
  nlohmann::ordered_json body;
  body["ready"] = ready;
  body["synced"] = synced;
  if (stale_seconds) {
    body["stale_seconds"] = std::round(*stale_seconds * 1000.0) / 1000.0;
  } else {
    body["stale_seconds"] = nullptr;
  }
  body["max_staleness_seconds"] = max_staleness_seconds;
  body["cert_loaded"] = cert_loaded;
  body["cert_expired"] = cert_expired;
  body["draining"] = draining;
  body["reasons"] = reasons;
  return body.dump();
}

Readiness evaluateReadiness(const StateStore& state, const CertReloader* certs, bool draining,
                            int max_staleness_seconds, StateStore::Clock::time_point now,
                            std::chrono::system_clock::time_point wall_now) {
  Readiness readiness;
  readiness.synced = state.synced();
  if (readiness.synced) {
    readiness.stale_seconds = std::chrono::duration<double>(now - state.lastSync()).count();
  }
  readiness.cert_loaded = certs != nullptr && certs->loaded();
  readiness.cert_expired = certs != nullptr && certs->expired(wall_now);
  readiness.draining = draining;

  if (readiness.draining) readiness.reasons.push_back("draining: shutting down");
  if (!readiness.synced) {
    readiness.reasons.push_back("cluster state not synced yet");
  } else if (*readiness.stale_seconds > max_staleness_seconds) {
    readiness.reasons.push_back("cluster state is stale: last confirmed " +
                                std::to_string(static_cast<long long>(*readiness.stale_seconds)) +
                                " s ago (limit " + std::to_string(max_staleness_seconds) + " s)");
  }
  if (!readiness.cert_loaded) readiness.reasons.push_back("no serving certificate loaded");
  if (readiness.cert_expired) readiness.reasons.push_back("serving certificate has expired");
  readiness.ready = readiness.reasons.empty();
  return readiness;
}

AdminServer::AdminServer(AdminServerOptions options, const StateStore& state,
                         const CertReloader* certs, const MetricsRegistry& registry)
    : options_(std::move(options)),
      state_(state),
      certs_(certs),
      registry_(registry),
      impl_(std::make_unique<Impl>()) {}

AdminServer::~AdminServer() { shutdown(); }

Readiness AdminServer::readiness() const {
  return evaluateReadiness(state_, certs_, draining_.load(), options_.max_staleness_seconds,
                           StateStore::Clock::now(), std::chrono::system_clock::now());
}

bool AdminServer::start(std::string& error) {
  httplib::Server& server = impl_->server;
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_max_count(100);
  server.set_tcp_nodelay(true);
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    const Readiness readiness = this->readiness();
    response.status = readiness.ready ? 200 : 503;
    response.set_content(readiness.json(options_.max_staleness_seconds), "application/json");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry_.render(), std::string(MetricsRegistry::kContentType));
  });

  if (options_.port == 0) {
    port_ = server.bind_to_any_port(options_.bind_address);
    if (port_ <= 0) {
      error = "cannot bind the admin port on " + options_.bind_address;
      return false;
    }
  } else {
    if (!server.bind_to_port(options_.bind_address, options_.port)) {
      error = "cannot bind the admin port " + options_.bind_address + ":" +
              std::to_string(options_.port) + " (in use?)";
      return false;
    }
    port_ = options_.port;
  }
  listener_ = std::thread([this] { impl_->server.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl_->server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void AdminServer::shutdown() {
  if (!listener_.joinable()) return;
  impl_->server.stop();
  listener_.join();
}

}  // namespace peergate::webhook
