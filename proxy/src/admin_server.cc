#include "peergate/proxy/admin_server.h"

#include <chrono>

#include <httplib.h>

namespace peergate::proxy {

struct AdminServer::Impl {
  httplib::Server server;
};

AdminServer::AdminServer(ProxyServer& proxy, const ProxyStats& stats)
    : proxy_(proxy), stats_(stats), impl_(std::make_unique<Impl>()) {}

AdminServer::~AdminServer() { stop(); }

bool AdminServer::start(const std::string& address, int port, std::string& error) {
  httplib::Server& server = impl_->server;
  // Scrapes and probes only: two workers, short timeouts.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.Get("/healthz/ready", [this](const httplib::Request&, httplib::Response& response) {
    const bool ready = proxy_.ready();
    response.status = ready ? 200 : 503;
    response.set_content(ready ? "ready\n" : "not ready\n", "text/plain; charset=utf-8");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(stats_.renderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/identities", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(
        stats_.renderObservations(*proxy_.config().policy(), ProxyStats::Clock::now()),
        "application/json");
  });
  port_ = port == 0 ? server.bind_to_any_port(address)
                    : (server.bind_to_port(address, port) ? port : -1);
  if (port_ <= 0) {
    error = "cannot bind the admin port " + address + ":" + std::to_string(port) + " (in use?)";
    return false;
  }
  thread_ = std::thread([this] { impl_->server.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  impl_->server.stop();
  thread_.join();
}

}  // namespace peergate::proxy
