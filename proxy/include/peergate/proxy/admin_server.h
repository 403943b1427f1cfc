#pragma once

#include <memory>
#include <string>
#include <thread>

#include "peergate/proxy/proxy_server.h"
#include "peergate/proxy/proxy_stats.h"

namespace peergate::proxy {

// The plaintext admin port (15020): /healthz/ready (200 when serving, 503 otherwise), /metrics
// (Prometheus text) and /identities (the inbound sources seen, as an Observations document
// that `peergate check --observations` reads).
class AdminServer {
 public:
  AdminServer(ProxyServer& proxy, const ProxyStats& stats);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds `address:port` (0: any free port) and serves on a background thread.
  bool start(const std::string& address, int port, std::string& error);
  void stop();
  int port() const { return port_; }

 private:
  struct Impl;
  ProxyServer& proxy_;
  const ProxyStats& stats_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace peergate::proxy
