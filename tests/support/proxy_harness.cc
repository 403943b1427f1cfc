#include "proxy_harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include "peergate/proxy/client_hello.h"
#include "peergate/proxy/tls_contexts.h"

namespace peergate::testing {
namespace fs = std::filesystem;

void useIdentity(SSL_CTX* ctx, const fs::path& certs) {
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, (certs / "cert.pem").c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, (certs / "key.pem").c_str(), SSL_FILETYPE_PEM) == 1);
}

std::string alpnWire(const std::vector<std::string>& protocols) {
  const std::vector<std::string_view> views(protocols.begin(), protocols.end());
  return proxy::alpnWireFormat(views);
}

namespace {

constexpr int kIoTimeoutSeconds = 5;

void setTimeouts(int fd) {
  const timeval timeout{kIoTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
}

std::string uriSan(X509* cert) {
  std::string uri;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* text = name->d.uniformResourceIdentifier;
    uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
               static_cast<std::size_t>(ASN1_STRING_length(text)));
  }
  GENERAL_NAMES_free(names);
  return uri;
}

SSL_CTX* clientContext(const TlsClientOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  if (!options.certs.empty()) useIdentity(ctx, options.certs);
  if (!options.trust.empty()) {
    REQUIRE(SSL_CTX_load_verify_locations(ctx, options.trust.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.alpn.empty()) {
    const std::string wire = alpnWire(options.alpn);
    REQUIRE(SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                                    static_cast<unsigned int>(wire.size())) == 0);
  }
  return ctx;
}

std::string readTls(SSL* ssl) {
  std::string received;
  char buffer[16384];
  for (;;) {
    std::size_t got = 0;
    if (SSL_read_ex(ssl, buffer, sizeof buffer, &got) != 1) break;
    received.append(buffer, got);
  }
  ERR_clear_error();
  return received;
}

}  // namespace

fs::path identityDir(const std::string& name) {
  static const TempDir* dir = [] {
    auto* made = new TempDir("peergate-proxy-certs");  // lives for the whole process
    const std::string command = std::string("bash '") + PEERGATE_SOURCE_DIR +
                                "/tests/testdata/proxy/gen.sh' '" + made->path().string() + "'";
    REQUIRE(std::system(command.c_str()) == 0);
    return made;
  }();
  return dir->path() / name;
}

SocketAddress socketAddress(const std::string& ip, uint16_t port) {
  SocketAddress address;
  if (ip.find(':') != std::string::npos) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    REQUIRE(::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1);
    address.length = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    REQUIRE(::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1);
    address.length = sizeof(sockaddr_in);
  }
  return address;
}

int listenTcp(const std::string& ip, uint16_t& port) {
  SocketAddress address = socketAddress(ip, 0);
  const int fd = ::socket(address.storage.ss_family, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  REQUIRE(::bind(fd, address.get(), address.length) == 0);
  REQUIRE(::listen(fd, 64) == 0);
  ::getsockname(fd, address.get(), &address.length);
  port = address.storage.ss_family == AF_INET6
             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_port)
             : ntohs(reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_port);
  return fd;
}

EchoApp::EchoApp(std::string greeting, AppTls tls, const std::string& ip)
    : greeting_(std::move(greeting)) {
  if (tls == AppTls::Own) {
    tls_ = SSL_CTX_new(TLS_server_method());
    REQUIRE(tls_ != nullptr);
    useIdentity(tls_, identityDir("app-tls"));
    // The app's choice: h2, else http/1.1, else no ALPN.
    static const std::string app_alpn = alpnWire({"h2", "http/1.1"});
    SSL_CTX_set_alpn_select_cb(tls_, &proxy::selectPreferredAlpn,
                               const_cast<std::string*>(&app_alpn));
  }
  listen_fd_ = listenTcp(ip, port_);
  acceptor_ = std::thread([this] { acceptLoop(); });
}

EchoApp::~EchoApp() {
  stopping_ = true;
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (std::thread& worker : workers_) worker.join();
  ::close(listen_fd_);
  SSL_CTX_free(tls_);
}

void EchoApp::acceptLoop() {
  while (!stopping_) {
    pollfd ready{listen_fd_, POLLIN, 0};
    if (::poll(&ready, 1, 20) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    open_fds_.insert(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void EchoApp::serve(int fd) {
  setTimeouts(fd);
  if (tls_ != nullptr) return serveTls(fd);
  if (!greeting_.empty()) sendAll(fd, greeting_);
  std::size_t total = 0;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got == 0) {
      sendAll(fd, "EOF:" + std::to_string(total));
      break;
    }
    if (got < 0) break;
    total += static_cast<std::size_t>(got);
    if (!sendAll(fd, std::string(buffer, static_cast<std::size_t>(got)))) break;
  }
  {
    std::lock_guard lock(mutex_);
    open_fds_.erase(fd);
  }
  ::close(fd);
}

void EchoApp::serveTls(int fd) {
  SSL* ssl = SSL_new(tls_);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    ++tls_handshakes_;
    std::size_t total = 0;
    char buffer[16384];
    std::size_t got = 0;
    std::size_t written = 0;
    while (SSL_read_ex(ssl, buffer, sizeof buffer, &got) == 1) {
      total += got;
      if (SSL_write_ex(ssl, buffer, got, &written) != 1) break;
    }
    if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN) {  // the client's close_notify
      const std::string trailer = "EOF:" + std::to_string(total);
      SSL_write_ex(ssl, trailer.data(), trailer.size(), &written);
      SSL_shutdown(ssl);
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  {
    std::lock_guard lock(mutex_);
    open_fds_.erase(fd);
  }
  ::close(fd);
}

int connectTcp(const std::string& ip, uint16_t port, int receive_buffer) {
  SocketAddress address = socketAddress(ip, port);
  const int fd = ::socket(address.storage.ss_family, SOCK_STREAM, 0);
  setTimeouts(fd);
  if (receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  if (::connect(fd, address.get(), address.length) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::string readToEnd(int fd) {
  std::string received;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    received.append(buffer, static_cast<std::size_t>(got));
  }
  return received;
}

std::string readExactly(int fd, std::size_t size) {
  std::string received;
  char buffer[65536];
  while (received.size() < size) {
    const ssize_t got = ::recv(fd, buffer, std::min(sizeof buffer, size - received.size()), 0);
    if (got <= 0) break;
    received.append(buffer, static_cast<std::size_t>(got));
  }
  return received;
}

std::string exchangePlain(const std::string& ip, uint16_t port, const std::string& payload) {
  const int fd = connectTcp(ip, port);
  if (fd < 0) return "";
  sendAll(fd, payload);
  ::shutdown(fd, SHUT_WR);
  std::string received = readToEnd(fd);
  ::close(fd);
  return received;
}

TlsExchange exchangeTls(uint16_t port, const fs::path& certs, const std::string& payload,
                        const std::string& ip) {
  TlsClientOptions options;
  options.certs = certs;
  options.ip = ip;
  return exchangeTls(port, options, payload);
}

TlsExchange exchangeTls(uint16_t port, const TlsClientOptions& options,
                        const std::string& payload) {
  const std::string& ip = options.ip;
  TlsExchange result;
  const int fd = connectTcp(ip, port);
  if (fd < 0) return result;
  SSL_CTX* ctx = clientContext(options);
  SSL* ssl = SSL_new(ctx);
  if (!options.host.empty()) {
    SSL_set_tlsext_host_name(ssl, options.host.c_str());
    SSL_set1_host(ssl, options.host.c_str());
  }
  if (options.hello_pause.count() > 0) {
    // The ClientHello is written into memory, sent in two segments, and the handshake goes on
    // on the socket (nothing has been read yet, so nothing is lost by switching).
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
    REQUIRE(SSL_connect(ssl) == -1);
    std::string hello(static_cast<std::size_t>(BIO_pending(out)), '\0');
    REQUIRE(BIO_read(out, hello.data(), static_cast<int>(hello.size())) ==
            static_cast<int>(hello.size()));
    const std::size_t half = hello.size() / 2;
    sendAll(fd, hello.substr(0, half));
    std::this_thread::sleep_for(options.hello_pause);
    sendAll(fd, hello.substr(half));
    SSL_set_fd(ssl, fd);
  } else {
    SSL_set_fd(ssl, fd);
  }
  if (SSL_connect(ssl) == 1) {
    result.handshake = true;
    const unsigned char* alpn = nullptr;
    unsigned int alpn_size = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_size);
    if (alpn != nullptr) result.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_size);
    if (X509* server = SSL_get1_peer_certificate(ssl)) {
      result.server_id = uriSan(server);
      result.server_serial = ASN1_INTEGER_get(X509_get0_serialNumber(server));
      X509_free(server);
    }
    std::size_t written = 0;
    if (SSL_write_ex(ssl, payload.data(), payload.size(), &written) == 1) {
      SSL_shutdown(ssl);  // close_notify: our half-close
      result.received = readTls(ssl);
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  return result;
}

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void writeFileAtomically(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    file << text;
  }
  fs::rename(temporary, path);
}

std::string meshPodsYaml(uint16_t app_port) {
  auto pod = [](const std::string& ns, const std::string& name, const std::string& sa,
                const std::string& ip, bool proxy, uint16_t port) {
    std::ostringstream out;
    out << "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " << name << "\n  namespace: " << ns
        << "\n  uid: uid-" << name << "\n  labels: {app: " << name << "}\nspec:\n"
        << "  serviceAccountName: " << sa << "\n  containers:\n  - name: " << name
        << "\n    image: example/" << name << "\n";
    if (port != 0) out << "    ports: [{containerPort: " << port << "}]\n";
    if (proxy) out << "  - name: peergate-proxy\n    image: peergate\n";
    out << "status: {podIP: " << ip;
    // httpbin is dual-stack: its IPv6 address is ::1.
    if (name == "httpbin") out << ", podIPs: [{ip: " << ip << "}, {ip: \"::1\"}]";
    out << "}\n---\n";
    return out.str();
  };
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: foo}\n---\n"
         "apiVersion: v1\nkind: Namespace\nmetadata: {name: legacy}\n---\n" +
         pod("foo", "httpbin", "httpbin", "127.0.0.2", true, app_port) +
         pod("foo", "other", "other", "127.0.0.3", true, app_port) +
         pod("foo", "curl", "curl", "127.0.0.4", true, 0) +
         pod("legacy", "sleep", "default", "127.0.0.5", false, 0);
}

std::string httpbinPolicyYaml(const std::string& mode,
                              const std::vector<std::pair<uint16_t, std::string>>& ports) {
  std::ostringstream out;
  out << "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n"
      << "  name: httpbin\n  namespace: foo\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n"
      << "spec:\n  selector:\n    matchLabels: {app: httpbin}\n  mtls: {mode: " << mode << "}\n";
  if (!ports.empty()) {
    out << "  portLevelMtls:\n";
    for (const auto& [port, port_mode] : ports) {
      out << "    " << port << ": {mode: " << port_mode << "}\n";
    }
  }
  return out.str();
}

std::size_t residentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  }
  return 0;
}

}  // namespace peergate::testing
