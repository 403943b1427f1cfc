#pragma once

// Real sockets for proxy tests: an app server, plaintext and TLS clients, the test identities of
// tests/testdata/proxy/gen.sh, and cluster-state files. Every blocking call has a timeout.

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

struct ssl_ctx_st;

namespace peergate::testing {

// The identities of tests/testdata/proxy/gen.sh, generated once per test process:
// identityDir("curl") holds cert.pem key.pem ca.pem.
std::filesystem::path identityDir(const std::string& name);

// A socket address for an IPv4 or IPv6 literal ("127.0.0.1", "::1").
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};
SocketAddress socketAddress(const std::string& ip, uint16_t port);
// A listening TCP socket on `ip` and an ephemeral port, written to `port`.
int listenTcp(const std::string& ip, uint16_t& port);
// Loads `certs`/cert.pem and key.pem into a TLS context.
void useIdentity(ssl_ctx_st* ctx, const std::filesystem::path& certs);
// ALPN wire format (length-prefixed names), as SSL_CTX_set_alpn_protos and selectPreferredAlpn
// take it.
std::string alpnWire(const std::vector<std::string>& protocols);

// Whether an EchoApp speaks TLS itself: `Own` terminates TLS with the non-mesh certificate of
// identityDir("app-tls") (DNS:app.example) and selects ALPN "h2", else "http/1.1", when offered —
// an app that was HTTPS before the mesh came.
enum class AppTls { None, Own };

// An app on 127.0.0.1:<ephemeral> (or `ip`, e.g. "::1"): echoes every byte; at the client's end
// of stream (a FIN, or a close_notify with AppTls::Own) it writes "EOF:<bytes received>" and
// closes, so a lost half-close shows as a missing trailer. With a greeting it speaks first (a
// server-speaks-first protocol).
class EchoApp {
 public:
  explicit EchoApp(std::string greeting = "", AppTls tls = AppTls::None,
                   const std::string& ip = "127.0.0.1");
  explicit EchoApp(AppTls tls) : EchoApp("", tls) {}
  EchoApp(std::string greeting, const std::string& ip)
      : EchoApp(std::move(greeting), AppTls::None, ip) {}
  ~EchoApp();
  EchoApp(const EchoApp&) = delete;
  EchoApp& operator=(const EchoApp&) = delete;

  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  int tlsHandshakes() const { return tls_handshakes_.load(); }  // completed, AppTls::Own

 private:
  void acceptLoop();
  void serve(int fd);
  void serveTls(int fd);

  const std::string greeting_;
  ssl_ctx_st* tls_ = nullptr;  // SSL_CTX, AppTls::Own
  std::atomic<int> tls_handshakes_{0};
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// A connected TCP socket to an IPv4 or IPv6 address (-1 on failure) with 5 s send/receive
// timeouts. A `receive_buffer` set before connecting (SO_RCVBUF; none is 0) turns autotuning off,
// so a peer's writes find the socket full early.
int connectTcp(const std::string& ip, uint16_t port, int receive_buffer = 0);
bool sendAll(int fd, const std::string& data);
// Reads until end of stream, an error or the socket's timeout.
std::string readToEnd(int fd);
// Reads until `size` bytes arrived (or end/timeout).
std::string readExactly(int fd, std::size_t size);
// connect, send, half-close, read to the end; "" when refused.
std::string exchangePlain(const std::string& ip, uint16_t port, const std::string& payload);

struct TlsExchange {
  bool handshake = false;  // the client's side of the handshake completed
  std::string received;    // what came back before the end (or the failure)
  std::string server_id;   // the server certificate's URI SAN
  long server_serial = 0;  // and its serial number
  std::string alpn;        // the protocol the server selected ("" = none)
};

struct TlsClientOptions {
  std::filesystem::path certs;    // the client's identity ("" = no client certificate)
  std::vector<std::string> alpn;  // protocols offered ({} = no ALPN extension)
  std::filesystem::path trust;    // CA file the server must chain to ("" = not verified)
  std::string host;               // SNI, and the DNS name the server's certificate must carry
  // > 0: the ClientHello goes out in two TCP segments this far apart.
  std::chrono::milliseconds hello_pause{0};
  std::string ip = "127.0.0.1";  // the address to connect to ("::1" for IPv6)
};

// A TLS client to options.ip:`port`: handshake, send `payload`, close_notify (half-close), read
// to the end.
TlsExchange exchangeTls(uint16_t port, const TlsClientOptions& options, const std::string& payload);
// The same with the identity in `certs`, no ALPN and the server not verified (the tests check
// what the proxy decides).
TlsExchange exchangeTls(uint16_t port, const std::filesystem::path& certs,
                        const std::string& payload, const std::string& ip = "127.0.0.1");

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes `text` to `path` through a temporary file and a rename, as kubelet and editors do.
void writeFileAtomically(const std::filesystem::path& path, const std::string& text);

// Pods for proxy tests, namespace foo unless said otherwise: httpbin (sa httpbin, 127.0.0.2 and
// ::1 in status.podIPs, proxy, container port `app_port`), other (sa other, 127.0.0.3, proxy),
// curl (sa curl, 127.0.0.4, proxy), and legacy/sleep (127.0.0.5, no proxy).
std::string meshPodsYaml(uint16_t app_port);
// A workload PeerAuthentication selecting app=httpbin with `mode`, and portLevelMtls entries.
std::string httpbinPolicyYaml(const std::string& mode,
                              const std::vector<std::pair<uint16_t, std::string>>& ports = {});

// Resident set size of this process, from /proc/self/status.
std::size_t residentBytes();

}  // namespace peergate::testing
