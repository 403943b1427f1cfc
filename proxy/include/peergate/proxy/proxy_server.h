#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "peergate/proxy/config_source.h"
#include "peergate/proxy/options.h"
#include "peergate/proxy/proxy_stats.h"

namespace peergate::proxy {

// The data plane of one pod: the inbound listener (and --inbound-map listeners), the outbound
// listener (and --outbound-map listeners), every connection on one io_context thread, and the
// config source (files or the control plane) feeding them policy and certificates.
class ProxyServer {
 public:
  ProxyServer(ProxyOptions options, ProxyStats& stats);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Loads policy and certificates, binds every listener and starts the loop; false with `error`
  // on a startup problem (nothing left running).
  bool start(std::string& error);
  // Stops accepting, then waits up to `timeout` for open connections to finish; true when they
  // all did. The loop keeps running until stop().
  bool drain(std::chrono::milliseconds timeout);
  // Closes every connection and listener and joins the loop thread; idempotent.
  void stop();

  // The bound ports (ephemeral ones resolved); 0 when that listener is off.
  uint16_t inboundPort() const { return inbound_port_; }
  uint16_t outboundPort() const { return outbound_port_; }
  // In the order of options.inbound_map / outbound_map.
  const std::vector<uint16_t>& inboundMapPorts() const { return inbound_map_ports_; }
  const std::vector<uint16_t>& outboundMapPorts() const { return outbound_map_ports_; }
  // The address the listeners bound after start(): options.bind_address, or 0.0.0.0 when that
  // is "::" and the host has no IPv6. The admin server binds the same.
  const std::string& bindAddress() const { return bind_address_; }

  // Serving: listeners bound, policy and certificate loaded, not draining.
  bool ready() const { return ready_.load(); }
  ConfigSource& config() { return *config_; }
  const ProxyOptions& options() const { return options_; }

 private:
  struct Impl;

  const ProxyOptions options_;
  ProxyStats& stats_;
  std::unique_ptr<ConfigSource> config_;
  std::unique_ptr<Impl> impl_;
  uint16_t inbound_port_ = 0;
  uint16_t outbound_port_ = 0;
  std::vector<uint16_t> inbound_map_ports_;
  std::vector<uint16_t> outbound_map_ports_;
  std::string bind_address_;
  std::atomic<bool> ready_{false};
};

}  // namespace peergate::proxy
