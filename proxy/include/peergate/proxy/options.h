#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::proxy {

// `--inbound-map LISTEN=APPPORT`: a connection to LISTEN counts as destined to APPPORT, for
// running without iptables (tests, laptops). LISTEN 0 binds an ephemeral port.
struct InboundMapping {
  uint16_t listen_port = 0;
  uint16_t app_port = 0;
};

// `--outbound-map LISTEN=IP:PORT`: a connection to LISTEN counts as destined to IP:PORT.
struct OutboundMapping {
  uint16_t listen_port = 0;
  std::string ip;
  uint16_t port = 0;
};

// Parses "L=P[,L=P...]"; nullopt with `error` naming the bad entry.
std::optional<std::vector<InboundMapping>> parseInboundMap(std::string_view text,
                                                           std::string& error);
// Parses "L=IP:PORT[,L=IP:PORT...]" (IPv4 or [IPv6]).
std::optional<std::vector<OutboundMapping>> parseOutboundMap(std::string_view text,
                                                             std::string& error);

// Limits and timeouts of the data path; the defaults follow Istio's where it has one.
struct ProxyLimits {
  std::chrono::milliseconds sniff_timeout{1000};       // PERMISSIVE: client silent → plaintext
  std::chrono::milliseconds handshake_timeout{10000};  // TLS handshake and upstream connect
  std::chrono::milliseconds idle_timeout{3600000};     // no bytes either way → close (1 h)
  std::chrono::milliseconds drain_timeout{20000};      // SIGTERM: in-flight connections finish
  std::size_t max_connections = 10000;                 // accepted beyond this are closed at once
  std::size_t buffer_bytes = 65536;  // per direction, pooled while bytes flow: four TLS records
};

// Where the control-plane mode gets its policy and identity (docs/control-plane.md).
struct ControlPlaneConnection {
  std::string address;     // HOST:PORT of the CA and policy feed; "" = local mode
  std::string ca_file;     // PEM roots that verify the control plane's serving certificate
  std::string token_file;  // the pod's projected service-account token, re-read per request
  std::chrono::milliseconds startup_timeout{60000};  // give up (exit) when not ready by then
  std::chrono::seconds feed_wait{30};                // long-poll hold asked of the server
  std::chrono::milliseconds max_backoff{30000};      // between retries after a failure
};

struct ProxyOptions {
  std::string pod_namespace;
  std::string pod_name;
  std::string cluster_state;             // FILE|DIR, as `peergate check -f` reads it
  std::string certs_dir;                 // cert.pem key.pem ca.pem
  ControlPlaneConnection control_plane;  // when its address is set, instead of the two above
  std::string trust_domain;              // "" = the mesh config's (default cluster.local)
  // "::" listens dual-stack (IPv4 arrives as ::ffff:a.b.c.d), 0.0.0.0 on a host without IPv6.
  std::string bind_address = "::";
  // Where decrypted inbound traffic goes. A connection that arrived over IPv6 and is refused at
  // 127.0.0.1 tries ::1 (an app listening on ::1 only); one on [::] or 0.0.0.0 takes 127.0.0.1.
  std::string app_address = "127.0.0.1";
  int inbound_port = 15006;  // 0: ephemeral; -1: no listener
  int outbound_port = 15001;
  int admin_port = 15020;
  std::vector<InboundMapping> inbound_map;
  std::vector<OutboundMapping> outbound_map;
  std::chrono::milliseconds reload_interval{1000};
  // Outbound connections to the same peer proxy share one mTLS connection when the peer agrees
  // (ALPN); inbound always accepts that.
  bool multiplex = true;
  ProxyLimits limits;
};

}  // namespace peergate::proxy
