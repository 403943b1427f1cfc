// The webhook's HTTPS server, admin port, metrics, certificate rotation and static cluster state,
// driven over real sockets on 127.0.0.1 (ephemeral ports) with certificates from
// tests/testdata/certs/gen.sh.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/validation/decode.h"
#include "peergate/webhook/admin_server.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/config.h"
#include "peergate/webhook/decision_log.h"
#include "peergate/webhook/https_server.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"
#include "peergate/webhook/static_state.h"

namespace peergate::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// Files

fs::path makeTempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

// The certificates of gen.sh, generated once per test process.
const fs::path& certDir() {
  static const fs::path dir = [] {
    fs::path out = makeTempDir("peergate-certs");
    const std::string command = std::string("bash '") + PEERGATE_SOURCE_DIR +
                                "/tests/testdata/certs/gen.sh' '" + out.string() + "'";
    REQUIRE(std::system(command.c_str()) == 0);
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(certDir(), ignored);
    });
    return out;
  }();
  return dir;
}

std::string cert(const std::string& name) { return (certDir() / name).string(); }

// Replaces `to` atomically (write a temporary, rename), as a Secret volume update does.
void replaceFile(const fs::path& from, const fs::path& to) {
  const fs::path temporary = to.string() + ".tmp";
  fs::copy_file(from, temporary, fs::copy_options::overwrite_existing);
  fs::rename(temporary, to);
}

void writeFile(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    out << text;
  }
  fs::rename(temporary, path);
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& prefix) : path(makeTempDir(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// ---------------------------------------------------------------------------------------------
// Admission bodies and a stub decision function

// Field order as the API server's Go encoder writes it: kind, apiVersion, request.uid first.
std::string reviewBody(const std::string& uid, std::size_t padding = 0) {
  nlohmann::ordered_json review = {
      {"kind", "AdmissionReview"},
      {"apiVersion", "admission.k8s.io/v1"},
      {"request",
       {{"uid", uid},
        {"kind",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"kind", "PeerAuthentication"}}},
        {"resource",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"resource", "peerauthentications"}}},
        {"name", "default"},
        {"namespace", "foo"},
        {"operation", "CREATE"},
        {"userInfo", {{"username", "alice"}}},
        {"object",
         {{"apiVersion", "security.istio.io/v1"},
          {"kind", "PeerAuthentication"},
          {"metadata",
           {{"name", "default"},
            {"namespace", "foo"},
            {"annotations", {{"padding", std::string(padding, 'x')}}}}},
          {"spec", {{"mtls", {{"mode", "STRICT"}}}}}}},
        {"oldObject", nullptr},
        {"dryRun", false}}}};
  return review.dump();
}

// Allows everything, echoing the uid; counts calls; can hold requests until released.
struct StubDecider {
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::condition_variable cv;
  bool hold = false;
  int entered = 0;

  AdmissionReply operator()(std::string_view route, std::string_view, std::string_view body) {
    ++calls;
    {
      std::unique_lock lock(mutex);
      ++entered;
      cv.notify_all();
      cv.wait(lock, [this] { return !hold; });
    }
    const json request = json::parse(body)["request"];
    AdmissionReply reply;
    reply.body = json({{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"response", {{"uid", request["uid"]}, {"allowed", true}}}})
                     .dump();
    reply.outcome.webhook = std::string(route.substr(1));
    reply.outcome.uid = request["uid"];
    reply.outcome.kind = "PeerAuthentication";
    reply.outcome.operation = "CREATE";
    reply.outcome.allowed = true;
    reply.outcome.findings = {{"PG0104", "warn"}};
    return reply;
  }
  void waitEntered(int count) {
    std::unique_lock lock(mutex);
    REQUIRE(cv.wait_for(lock, 5s, [&] { return entered >= count; }));
  }
  void release() {
    std::lock_guard lock(mutex);
    hold = false;
    cv.notify_all();
  }
};

// ---------------------------------------------------------------------------------------------
// A server with its own copy of the serving cert, so a test may rotate it.

struct Harness {
  TempDir dir{"peergate-server"};
  MetricsRegistry registry;
  ServerMetrics metrics{registry};
  std::unique_ptr<CertReloader> certs;
  StateStore store;
  std::unique_ptr<HttpsServer> server;
  std::unique_ptr<AdminServer> admin;

  explicit Harness(AdmissionFunction decide, HttpsServerOptions options = {},
                   const std::string& serving = "server") {
    spdlog::set_level(spdlog::level::warn);
    fs::copy_file(cert(serving + ".crt"), dir.path / "tls.crt");
    fs::copy_file(cert(serving + ".key"), dir.path / "tls.key");
    certs = std::make_unique<CertReloader>(
        CertReloaderOptions{(dir.path / "tls.crt").string(), (dir.path / "tls.key").string(), 50ms,
                            std::chrono::hours(24 * 7)},
        metrics);
    std::string error;
    REQUIRE(certs->loadInitial(error));
    options.bind_address = "127.0.0.1";
    options.port = 0;
    server = std::make_unique<HttpsServer>(options, *certs, std::move(decide), metrics);
    INFO(error);
    REQUIRE(server->start(error));
    REQUIRE(server->port() > 0);
    admin = std::make_unique<AdminServer>(AdminServerOptions{"127.0.0.1", 0, 300}, store,
                                          certs.get(), registry);
    REQUIRE(admin->start(error));
  }

  std::unique_ptr<httplib::SSLClient> client(const std::string& host = "localhost") const {
    auto client = std::make_unique<httplib::SSLClient>(host, server->port());
    client->set_ca_cert_path(cert("ca.crt").c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(5, 0);
    client->set_write_timeout(5, 0);
    return client;
  }
  std::unique_ptr<httplib::Client> adminClient() const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", admin->port());
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(5, 0);
    return client;
  }
};

// ---------------------------------------------------------------------------------------------
// A raw OpenSSL client, for what httplib's client cannot do: pick TLS versions, read the peer
// certificate's serial, send half a request.

int connectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

struct TlsOptions {
  int min_version = TLS1_2_VERSION;
  int max_version = 0;  // highest
  std::string host = "peergate.peergate-system.svc";
  std::string client_cert;
  std::string client_key;
};

TlsOptions versions(int min_version, int max_version) {
  TlsOptions options;
  options.min_version = min_version;
  options.max_version = max_version;
  return options;
}

class TlsConnection {
 public:
  TlsConnection(int port, const TlsOptions& options) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, options.min_version);
    SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    if (options.min_version < TLS1_2_VERSION) {
      // OpenSSL 3 refuses TLS < 1.2 itself at security level >= 1: allow it so the refusal
      // under test is the server's.
      SSL_CTX_set_security_level(ctx_, 0);
      SSL_CTX_set_cipher_list(ctx_, "DEFAULT:@SECLEVEL=0");
    }
    SSL_CTX_load_verify_locations(ctx_, cert("ca.crt").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!options.client_cert.empty()) {
      SSL_CTX_use_certificate_file(ctx_, options.client_cert.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, options.client_key.c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = connectLoopback(port);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, options.host.c_str());
    SSL_set1_host(ssl_, options.host.c_str());  // the SAN must match
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) {
      connected_ = true;
    } else {
      error_code_ = ERR_peek_error();
      char buffer[256];
      ERR_error_string_n(error_code_, buffer, sizeof buffer);
      error_ = buffer;
      ERR_clear_error();
    }
  }
  ~TlsConnection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  bool connected() const { return connected_; }
  const std::string& error() const { return error_; }
  unsigned long errorReason() const { return ERR_GET_REASON(error_code_); }
  std::string version() const { return SSL_get_version(ssl_); }
  std::string cipher() const { return SSL_get_cipher_name(ssl_); }

  std::string peerSerial() const {
    X509* peer = SSL_get1_peer_certificate(ssl_);
    if (peer == nullptr) return "";
    BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), nullptr);
    char* hex = BN_bn2hex(number);
    std::string serial = hex;
    OPENSSL_free(hex);
    BN_free(number);
    X509_free(peer);
    return serial;
  }

  bool write(const std::string& data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }

  // Reads until the peer closes or `limit` passes; returns what arrived and whether it closed.
  std::pair<std::string, bool> readUntilClosed(std::chrono::milliseconds limit) {
    timeval timeout{0, 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) {
        received.append(buffer, static_cast<std::size_t>(n));
        continue;
      }
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_WANT_READ) continue;  // timeout tick
      if (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return {received, true};
    }
    return {received, false};
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
  std::string error_;
  unsigned long error_code_ = 0;
};

std::shared_ptr<const validation::ClusterState> stateFrom(std::string_view yaml) {
  validation::Inputs inputs;
  const validation::DecodeOutcome outcome = validation::decodeInto(yaml, "state.yaml", inputs);
  REQUIRE(outcome.ok());
  return std::make_shared<const validation::ClusterState>(std::move(inputs));
}

constexpr std::string_view kSmallState = R"(apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: foo, labels: {app: web}}
spec:
  containers:
  - {name: web, image: web, ports: [{containerPort: 8080}]}
  - {name: istio-proxy, image: proxy}
)";

// =============================================================================================
// TLS

TEST_CASE("serves POST /validate over TLS 1.2+ with a certificate valid for its SANs", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });

  for (const std::string host : {"localhost", "127.0.0.1"}) {
    CAPTURE(host);
    auto client = harness.client(host);
    const auto result = client->Post("/validate", reviewBody("uid-1"), "application/json");
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->get_header_value("Content-Type") == "application/json");
    const json reply = json::parse(result->body);
    CHECK(reply["response"]["uid"] == "uid-1");
    CHECK(reply["response"]["allowed"] == true);
  }
  TlsConnection by_service_name(harness.server->port(), TlsOptions{});
  INFO(by_service_name.error());
  CHECK(by_service_name.connected());
  TlsOptions other_name;
  other_name.host = "peergate.other.svc";
  TlsConnection wrong_name(harness.server->port(), other_name);
  CHECK_FALSE(wrong_name.connected());
}

TEST_CASE("refuses TLS 1.1 and negotiates TLS 1.2 with an ECDHE AEAD suite", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });

  TlsConnection old(harness.server->port(), versions(TLS1_VERSION, TLS1_1_VERSION));
  CHECK_FALSE(old.connected());
  CHECK(old.errorReason() == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);

  TlsConnection tls12(harness.server->port(), versions(TLS1_2_VERSION, TLS1_2_VERSION));
  INFO(tls12.error());
  REQUIRE(tls12.connected());
  CHECK(tls12.version() == "TLSv1.2");
  CHECK(tls12.cipher().rfind("ECDHE-", 0) == 0);
  CHECK((tls12.cipher().find("GCM") != std::string::npos ||
         tls12.cipher().find("CHACHA20") != std::string::npos));

  TlsConnection tls13(harness.server->port(), versions(TLS1_3_VERSION, TLS1_3_VERSION));
  REQUIRE(tls13.connected());
  CHECK(tls13.version() == "TLSv1.3");
}

TEST_CASE("requires a client certificate from the client CA when one is configured", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.client_ca_file = cert("ca.crt");
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  const int port = harness.server->port();

  TlsOptions anonymous;
  TlsConnection without(port, anonymous);
  // TLS 1.3 reports a missing client certificate after the client's handshake completes.
  const bool refused = !without.connected() || without.readUntilClosed(2s).second;
  CHECK(refused);

  TlsOptions foreign;
  foreign.client_cert = cert("other-client.crt");
  foreign.client_key = cert("other-client.key");
  TlsConnection other(port, foreign);
  CHECK((!other.connected() || other.readUntilClosed(2s).second));

  TlsOptions trusted;
  trusted.client_cert = cert("client.crt");
  trusted.client_key = cert("client.key");
  TlsConnection good(port, trusted);
  INFO(good.error());
  REQUIRE(good.connected());
  const std::string body = reviewBody("uid-mtls");
  REQUIRE(
      good.write("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Connection: close\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body));
  const auto [response, closed] = good.readUntilClosed(5s);
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(response.find("uid-mtls") != std::string::npos);
}

TEST_CASE("new connections get a rotated certificate without a restart", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  const int port = harness.server->port();
  harness.certs->startWatching();

  TlsConnection before(port, TlsOptions{});
  REQUIRE(before.connected());
  CHECK(before.peerSerial() == "1001");
  auto keep_alive = harness.client();
  REQUIRE(keep_alive->Post("/validate", reviewBody("a"), "application/json"));

  // cert-manager writes the new pair; the watcher (50 ms poll) swaps it in.
  replaceFile(cert("server2.key"), harness.dir.path / "tls.key");
  replaceFile(cert("server2.crt"), harness.dir.path / "tls.crt");
  std::string serial;
  for (int attempt = 0; attempt < 250 && serial != "1002"; ++attempt) {
    std::this_thread::sleep_for(20ms);
    TlsConnection after(port, TlsOptions{});
    REQUIRE(after.connected());
    serial = after.peerSerial();
  }
  CHECK(serial == "1002");
  CHECK(harness.certs->current()->serial_hex == "1002");
  CHECK(harness.metrics.serving_cert_reloads.value({"success"}) == 2);
  // The connection opened before the rotation still works.
  const auto again = keep_alive->Post("/validate", reviewBody("b"), "application/json");
  REQUIRE(again);
  CHECK(again->status == 200);

  // A key that does not match is refused; the current pair stays.
  replaceFile(cert("server.key"), harness.dir.path / "tls.key");
  CHECK(harness.certs->reloadNow() == CertReloadResult::Failed);
  CHECK(harness.metrics.serving_cert_reloads.value({"error"}) >= 1);
  TlsConnection still(port, TlsOptions{});
  REQUIRE(still.connected());
  CHECK(still.peerSerial() == "1002");
  harness.certs->stop();
}

TEST_CASE("loads an expired certificate but reports it in readiness and the expiry gauge",
          "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  {}, "expired");
  harness.store.publish(stateFrom(kSmallState));
  CHECK(harness.certs->expired(std::chrono::system_clock::now()));
  const Readiness readiness = harness.admin->readiness();
  CHECK_FALSE(readiness.ready);
  CHECK(readiness.cert_expired);
  // 2020-01-02T00:00:00Z
  CHECK(harness.metrics.serving_cert_expiry.value() == 1577923200.0);
}

TEST_CASE("refuses to start on a key that does not match the certificate", "[server]") {
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  CertReloader certs({cert("server.crt"), cert("server2.key")}, metrics);
  std::string error;
  CHECK_FALSE(certs.loadInitial(error));
  CHECK(error.find("does not match") != std::string::npos);
  CertReloader missing({cert("nope.crt"), cert("server.key")}, metrics);
  CHECK_FALSE(missing.loadInitial(error));
  CHECK(error.find("nope.crt") != std::string::npos);
}

// =============================================================================================
// The real AdmissionHandler behind the server

// foo has a proxy on every pod; legacy has none, so STRICT there would cut plaintext traffic.
constexpr std::string_view kMeshState = R"(apiVersion: v1
kind: Namespace
metadata: {name: foo, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: foo, labels: {app: web}}
spec:
  containers:
  - {name: web, image: web, ports: [{containerPort: 8080}]}
  - {name: istio-proxy, image: proxy}
---
apiVersion: v1
kind: Pod
metadata: {name: billing-1, namespace: legacy, labels: {app: billing}}
spec:
  containers:
  - {name: billing, image: billing, ports: [{containerPort: 9000}]}
)";

// A PeerAuthentication CREATE as the API server sends it (Go field order).
std::string policyReview(const std::string& uid, const std::string& ns, const std::string& mode) {
  nlohmann::ordered_json review = {
      {"kind", "AdmissionReview"},
      {"apiVersion", "admission.k8s.io/v1"},
      {"request",
       {{"uid", uid},
        {"kind",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"kind", "PeerAuthentication"}}},
        {"resource",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"resource", "peerauthentications"}}},
        {"requestKind",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"kind", "PeerAuthentication"}}},
        {"requestResource",
         {{"group", "security.istio.io"}, {"version", "v1"}, {"resource", "peerauthentications"}}},
        {"name", "default"},
        {"namespace", ns},
        {"operation", "CREATE"},
        {"userInfo", {{"username", "alice"}, {"groups", {"system:authenticated"}}}},
        {"object",
         {{"apiVersion", "security.istio.io/v1"},
          {"kind", "PeerAuthentication"},
          {"metadata", {{"name", "default"}, {"namespace", ns}}},
          {"spec", {{"mtls", {{"mode", mode}}}}}}},
        {"oldObject", nullptr},
        {"dryRun", false},
        {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
  return review.dump();
}

struct RealWebhook {
  StateStore store;
  AdmissionHandler handler{store, WebhookConfig{}};
  Harness harness{[this](std::string_view route, std::string_view type, std::string_view body) {
    return handler.handle(route, type, body);
  }};
  RealWebhook() {
    store.publish(stateFrom(kMeshState));
    harness.store.publish(store.current());
  }
};

TEST_CASE("the real handler's verdicts come through with HTTP 200", "[server]") {
  RealWebhook webhook;
  auto client = webhook.harness.client();

  const auto allowed =
      client->Post("/validate", policyReview("uid-ok", "foo", "STRICT"), "application/json");
  REQUIRE(allowed);
  CHECK(allowed->status == 200);
  const json allow = json::parse(allowed->body);
  CHECK(allow["apiVersion"] == "admission.k8s.io/v1");
  CHECK(allow["kind"] == "AdmissionReview");
  CHECK(allow["response"]["uid"] == "uid-ok");
  CHECK(allow["response"]["allowed"] == true);

  const auto denied =
      client->Post("/validate", policyReview("uid-no", "legacy", "STRICT"), "application/json");
  REQUIRE(denied);
  CHECK(denied->status == 200);
  const json deny = json::parse(denied->body);
  CHECK(deny["response"]["uid"] == "uid-no");
  CHECK(deny["response"]["allowed"] == false);
  CHECK(deny["response"]["status"]["code"] == 403);
  CHECK_THAT(deny["response"]["status"]["message"].get<std::string>(),
             Catch::Contains("legacy/billing-1"));

  const ServerMetrics& metrics = webhook.harness.metrics;
  CHECK(metrics.admission_requests.value({"validate", "PeerAuthentication", "CREATE", "true"}) ==
        1);
  CHECK(metrics.admission_requests.value({"validate", "PeerAuthentication", "CREATE", "false"}) ==
        1);
  CHECK(metrics.admission_duration.count({"validate"}) == 2);
}

// The patch as the API server reads it: base64 of a JSON Patch document.
json decodePatch(const json& response) {
  const std::string encoded = response.at("patch").get<std::string>();
  std::string decoded(encoded.size(), '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                     reinterpret_cast<const unsigned char*>(encoded.data()),
                                     static_cast<int>(encoded.size()));
  REQUIRE(length >= 0);
  decoded.resize(static_cast<std::size_t>(length));
  while (!decoded.empty() && decoded.back() == '\0') decoded.pop_back();  // base64 padding
  return json::parse(decoded);
}

std::string podReview(const std::string& uid, const json& pod) {
  const json kind = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
  const json resource = {{"group", ""}, {"version", "v1"}, {"resource", "pods"}};
  return json{
      {"kind", "AdmissionReview"},
      {"apiVersion", "admission.k8s.io/v1"},
      {"request",
       {{"uid", uid},
        {"kind", kind},
        {"resource", resource},
        {"namespace", "foo"},
        {"operation", "CREATE"},
        {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
        {"object", pod},
        {"oldObject", nullptr},
        {"dryRun", false}}}}
      .dump();
}

TEST_CASE("POST /inject returns a patch that turns the pod into one with the proxy", "[server]") {
  RealWebhook webhook;
  auto client = webhook.harness.client();
  const json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata", {{"generateName", "web-5f7c-"}, {"labels", {{"app", "web"}}}}},
      {"spec", {{"containers", json::array({{{"name", "web"}, {"image", "nginx"}}})}}}};
  const auto result = client->Post("/inject", podReview("uid-pod", pod), "application/json");
  REQUIRE(result);
  CHECK(result->status == 200);
  const json reply = json::parse(result->body);
  REQUIRE(reply["response"]["allowed"] == true);
  CHECK(reply["response"]["patchType"] == "JSONPatch");
  const json injected = pod.patch(decodePatch(reply["response"]));
  std::vector<std::string> containers;
  for (const json& container : injected["spec"]["containers"]) {
    containers.push_back(container["name"]);
  }
  CHECK(containers == std::vector<std::string>{"web", "peergate-proxy"});
  CHECK(injected["spec"]["initContainers"][0]["name"] == "peergate-init");
  CHECK(webhook.harness.metrics.injections.value({"sidecar", "injected"}) == 1);

  // The API server re-invokes the webhook on the injected pod: nothing more to add.
  const auto again = client->Post("/inject", podReview("uid-pod-2", injected), "application/json");
  REQUIRE(again);
  const json second = json::parse(again->body);
  CHECK(second["response"]["allowed"] == true);
  CHECK_FALSE(second["response"].contains("patch"));
}

TEST_CASE("reviews before the first sync are counted as state_unavailable, not bad requests",
          "[server]") {
  StateStore empty;  // never published: not synced
  AdmissionHandler handler{empty, WebhookConfig{}};
  Harness harness{[&](std::string_view route, std::string_view type, std::string_view body) {
    return handler.handle(route, type, body);
  }};
  const auto result = harness.client()->Post(
      "/validate", policyReview("uid-early", "foo", "STRICT"), "application/json");
  REQUIRE(result);
  CHECK(json::parse(result->body)["response"]["status"]["code"] == 500);
  CHECK(harness.metrics.admission_errors.value({"state_unavailable"}) == 1);
  CHECK(harness.metrics.admission_errors.value({"bad_request"}) == 0);
}

TEST_CASE("findings are counted with the action each code got, not the request's verdict",
          "[server]") {
  Harness harness([](std::string_view route, std::string_view, std::string_view) {
    AdmissionReply reply;
    reply.body = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                 R"("response":{"uid":"u","allowed":false}})";
    reply.outcome.webhook = std::string(route.substr(1));
    reply.outcome.allowed = false;  // PG0101 denied; PG0201 only warned on the same request
    reply.outcome.findings = {{"PG0101", "deny"}, {"PG0201", "warn"}, {"PG0102", "exception"}};
    return reply;
  });
  const auto result =
      harness.client()->Post("/validate", reviewBody("uid-mixed"), "application/json");
  REQUIRE(result);
  const Counter& findings = harness.metrics.findings;
  CHECK(findings.value({"PG0101", "deny"}) == 1);
  CHECK(findings.value({"PG0201", "warn"}) == 1);
  CHECK(findings.value({"PG0201", "deny"}) == 0);
  CHECK(findings.value({"PG0102", "exception"}) == 1);
  CHECK(findings.value({"PG0102", "deny"}) == 0);
}

TEST_CASE("stale state: refusals count as state_unavailable, uninjected pods as stale",
          "[server]") {
  StateStore store;
  WebhookConfig config;
  config.max_staleness_seconds = 0;  // any age is too old
  config.fail_open_when_stale = GENERATE(false, true);
  CAPTURE(config.fail_open_when_stale);
  AdmissionHandler handler{store, config};
  store.publish(stateFrom(kMeshState));
  Harness harness{[&](std::string_view route, std::string_view type, std::string_view body) {
    return handler.handle(route, type, body);
  }};
  auto client = harness.client();
  const json pod = {{"apiVersion", "v1"},
                    {"kind", "Pod"},
                    {"metadata", {{"name", "web-2"}, {"namespace", "foo"}}},
                    {"spec", {{"containers", {{{"name", "web"}, {"image", "web"}}}}}}};
  for (const char* route : {"/validate", "/mutate"}) {
    REQUIRE(client->Post(route, policyReview("uid-stale", "foo", "STRICT"), "application/json"));
  }
  REQUIRE(client->Post("/inject", podReview("uid-stale-pod", pod), "application/json"));
  const ServerMetrics& metrics = harness.metrics;
  if (config.fail_open_when_stale) {
    CHECK(metrics.admission_errors.value({"state_unavailable"}) == 0);
    CHECK(metrics.injections.value({"none", "stale"}) == 1);
  } else {
    CHECK(metrics.admission_errors.value({"state_unavailable"}) == 3);
    CHECK(metrics.admission_errors.value({"bad_request"}) == 0);
  }
}

TEST_CASE("a wrong Content-Type is an AdmissionReview error, not a dropped call", "[server]") {
  RealWebhook webhook;
  auto client = webhook.harness.client();
  const auto result =
      client->Post("/validate", policyReview("uid-type", "foo", "STRICT"), "text/plain");
  REQUIRE(result);
  CHECK(result->status == 200);
  const json reply = json::parse(result->body);
  CHECK(reply["response"]["uid"] == "uid-type");
  CHECK(reply["response"]["allowed"] == false);
  CHECK(reply["response"]["status"]["code"] == 415);
  CHECK(webhook.harness.metrics.admission_errors.value({"bad_request"}) == 1);
}

// =============================================================================================
// Limits

TEST_CASE("answers a body over the limit with an AdmissionReview 413 that echoes the uid",
          "[server]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.max_body_bytes = 64 * 1024;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  auto client = harness.client();

  SECTION("slightly over: read and dropped, the connection stays usable") {
    const auto result =
        client->Post("/validate", reviewBody("big-uid", 100 * 1024), "application/json");
    REQUIRE(result);
    CHECK(result->status == 200);
    const json reply = json::parse(result->body);
    CHECK(reply["apiVersion"] == "admission.k8s.io/v1");
    CHECK(reply["response"]["uid"] == "big-uid");
    CHECK(reply["response"]["allowed"] == false);
    CHECK(reply["response"]["status"]["code"] == 413);
    CHECK(reply["response"]["status"]["reason"] == "RequestEntityTooLarge");
    CHECK(reply["response"]["status"]["message"].get<std::string>().find("--max-body-bytes") !=
          std::string::npos);
    const auto next = client->Post("/validate", reviewBody("small"), "application/json");
    REQUIRE(next);
    CHECK(next->status == 200);
  }
  SECTION("far over (> 4x the limit): the server stops reading and closes") {
    // The reply is written, but the client may still be sending and see the connection reset
    // first (unread data makes the kernel send RST): either outcome is fine, a hang is not.
    const auto result =
        client->Post("/validate", reviewBody("huge-uid", 1024 * 1024), "application/json");
    if (result) {
      CHECK(result->status == 200);
      const json reply = json::parse(result->body);
      CHECK(reply["response"]["uid"] == "huge-uid");
      CHECK(reply["response"]["status"]["code"] == 413);
    }
    auto fresh = harness.client();
    const auto next = fresh->Post("/validate", reviewBody("after"), "application/json");
    REQUIRE(next);
    CHECK(next->status == 200);
  }
  // Recorded after the reply is built; the client may have returned before that on a reset.
  for (int i = 0; i < 100 && harness.metrics.admission_errors.value({"body_too_large"}) < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(harness.metrics.admission_errors.value({"body_too_large"}) == 1);
  CHECK(stub->calls == 1);  // the decider saw only the small request
}

TEST_CASE("answers unknown routes and methods with 404 and counts them", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  auto client = harness.client();
  const auto post = client->Post("/nope", reviewBody("x"), "application/json");
  REQUIRE(post);
  CHECK(post->status == 404);
  CHECK(json::parse(post->body)["error"].get<std::string>().find("/validate") != std::string::npos);
  const auto get = client->Get("/validate");
  REQUIRE(get);
  CHECK(get->status == 404);
  CHECK(stub->calls == 0);
  CHECK(harness.metrics.admission_errors.value({"unknown_route"}) == 2);
}

TEST_CASE("turns an exception from the decision into an errored review, not a dead server",
          "[server]") {
  Harness harness([](std::string_view, std::string_view, std::string_view) -> AdmissionReply {
    throw std::runtime_error("boom");
  });
  auto client = harness.client();
  const auto result = client->Post("/validate", reviewBody("uid-boom"), "application/json");
  REQUIRE(result);
  CHECK(result->status == 200);
  const json reply = json::parse(result->body);
  CHECK(reply["response"]["uid"] == "uid-boom");
  CHECK(reply["response"]["status"]["code"] == 500);
  CHECK(harness.metrics.admission_errors.value({"internal"}) == 1);
}

TEST_CASE("a slow client that sends half a request is cut at the read timeout", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.read_timeout = 1000ms;
  options.worker_threads = 1;  // one event loop: the slow clients must not hold it
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  const int port = harness.server->port();

  TlsConnection slow(port, TlsOptions{});
  REQUIRE(slow.connected());
  REQUIRE(
      slow.write("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 1000\r\n\r\n{\"kind\":"));
  const auto slow_started = std::chrono::steady_clock::now();
  // A TCP client that never even starts the TLS handshake.
  const int silent = connectLoopback(port);

  // Others are served meanwhile: well before the slow ones could have been cut.
  auto client = harness.client();
  for (int i = 0; i < 3; ++i) {
    const auto result = client->Post("/validate", reviewBody("fast"), "application/json");
    REQUIRE(result);
    CHECK(result->status == 200);
  }
  CHECK(std::chrono::steady_clock::now() - slow_started < options.read_timeout);

  // The slow client gets its 400 and the close at the read timeout, not later.
  const auto [response, closed] = slow.readUntilClosed(5s);
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK_THAT(response, Catch::Contains("incomplete request body"));
  const auto slow_lasted = std::chrono::steady_clock::now() - slow_started;
  CHECK(slow_lasted >= options.read_timeout - 100ms);
  CHECK(slow_lasted < options.read_timeout + 3s);
  CHECK(harness.metrics.admission_errors.value({"body_read"}) == 1);

  // The silent one is closed by the server (EOF or reset), not left to our own 5 s timeout.
  timeval timeout{5, 0};
  ::setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char byte = 0;
  const ssize_t received = ::recv(silent, &byte, 1, 0);
  const int recv_errno = errno;
  CHECK((received == 0 || (received < 0 && recv_errno == ECONNRESET)));
  CHECK(std::chrono::steady_clock::now() - slow_started < options.read_timeout + 4s);
  ::close(silent);
  CHECK(stub->calls == 3);
}

// =============================================================================================
// Drain

TEST_CASE("a request in flight completes while shutdown is requested", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  stub->hold = true;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  harness.store.publish(stateFrom(kSmallState));
  REQUIRE(harness.admin->readiness().ready);

  auto in_flight = std::async(std::launch::async, [&] {
    auto client = harness.client();
    return client->Post("/validate", reviewBody("in-flight"), "application/json");
  });
  stub->waitEntered(1);

  // The command's order: readiness false, Connection: close, stop accepting, wait.
  harness.admin->setDraining(true);
  auto admin = harness.adminClient();
  const auto ready = admin->Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK(json::parse(ready->body)["draining"] == true);
  harness.server->beginDrain();
  auto shutdown = std::async(std::launch::async, [&] { harness.server->shutdown(); });
  CHECK(shutdown.wait_for(200ms) == std::future_status::timeout);  // waits for the request

  stub->release();
  const auto result = in_flight.get();
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(json::parse(result->body)["response"]["uid"] == "in-flight");
  CHECK(result->get_header_value("Connection") == "close");
  REQUIRE(shutdown.wait_for(5s) == std::future_status::ready);
  CHECK_FALSE(harness.server->running());

  // No longer accepting.
  auto late = harness.client();
  late->set_connection_timeout(1, 0);
  CHECK_FALSE(late->Post("/validate", reviewBody("late"), "application/json"));
}

// =============================================================================================
// HTTP/1.1 on the admission port: pipelining, chunked bodies, limits, keep-alive

std::string postRequest(const std::string& body, const std::string& extra_headers = "") {
  return "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::size_t countOf(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

TEST_CASE("two pipelined requests in one TLS write get two replies in order", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  REQUIRE(connection.write(postRequest(reviewBody("pipe-1")) +
                           postRequest(reviewBody("pipe-2"), "Connection: close\r\n")));
  const auto [response, closed] = connection.readUntilClosed(5s);
  CHECK(closed);
  CHECK(countOf(response, "HTTP/1.1 200 OK\r\n") == 2);
  const std::size_t first = response.find("pipe-1");
  const std::size_t second = response.find("pipe-2");
  REQUIRE(first != std::string::npos);
  REQUIRE(second != std::string::npos);
  CHECK(first < second);
  CHECK(countOf(response, "Connection: close") == 1);
  CHECK(stub->calls == 2);
}

TEST_CASE("a chunked body is decided like a Content-Length body; a broken one gets a 400 review",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  const std::string body = reviewBody("uid-chunked");
  const auto hex = [](std::size_t size) {
    char text[32];
    std::snprintf(text, sizeof text, "%zx", size);
    return std::string(text);
  };
  const std::string head =
      "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n";

  SECTION("well formed, with extensions and a trailer, then a second request") {
    TlsConnection connection(harness.server->port(), TlsOptions{});
    REQUIRE(connection.connected());
    const std::size_t half = body.size() / 2;
    const std::string chunked = head + "\r\n" + hex(half) + ";name=value\r\n" +
                                body.substr(0, half) + "\r\n" + hex(body.size() - half) + "\r\n" +
                                body.substr(half) + "\r\n0\r\nX-Trailer: t\r\n\r\n";
    REQUIRE(connection.write(chunked));
    REQUIRE(connection.write(postRequest(reviewBody("uid-after"), "Connection: close\r\n")));
    const auto [response, closed] = connection.readUntilClosed(5s);
    CHECK(closed);
    CHECK(countOf(response, "HTTP/1.1 200 OK\r\n") == 2);
    CHECK(countOf(response, "\"allowed\":true") == 2);
    CHECK(response.find("uid-chunked") < response.find("uid-after"));
    CHECK(stub->calls == 2);
  }
  SECTION("a bad chunk size: 400 review with the uid, then close") {
    TlsConnection connection(harness.server->port(), TlsOptions{});
    REQUIRE(connection.connected());
    REQUIRE(connection.write(head + "\r\n" + hex(body.size()) + "\r\n" + body + "\r\nzz\r\n"));
    const auto [response, closed] = connection.readUntilClosed(5s);
    CHECK(closed);
    CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK_THAT(response, Catch::Contains("Connection: close"));
    const json reply = json::parse(response.substr(response.find("\r\n\r\n") + 4));
    CHECK(reply["response"]["uid"] == "uid-chunked");
    CHECK(reply["response"]["status"]["code"] == 400);
    CHECK_THAT(reply["response"]["status"]["message"].get<std::string>(),
               Catch::StartsWith("incomplete request body") && Catch::Contains("chunk size"));
    CHECK(harness.metrics.admission_errors.value({"body_read"}) == 1);
    CHECK(stub->calls == 0);
  }
}

TEST_CASE("rejects malformed requests with a clear 400 and closes", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  using Row = std::tuple<std::string, std::string, std::string>;
  const auto [name, request, message] = GENERATE(table<std::string, std::string, std::string>({
      Row{"no method", " /validate HTTP/1.1\r\nHost: x\r\n\r\n", "no valid method"},
      Row{"garbage line", "GARBAGE\r\n\r\n", "malformed request line"},
      Row{"bad version", "POST /validate HTTP/2.0\r\nHost: x\r\n\r\n", "unsupported HTTP version"},
      Row{"length and chunked",
          "POST /validate HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
          "both Content-Length and Transfer-Encoding"},
      Row{"non-numeric length", "POST /validate HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n",
          "invalid Content-Length"},
      Row{"header without colon", "POST /validate HTTP/1.1\r\nHost x\r\n\r\n",
          "malformed header field"},
  }));
  CAPTURE(name);
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  REQUIRE(connection.write(request));
  const auto [response, closed] = connection.readUntilClosed(5s);
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  CHECK_THAT(response, Catch::Contains("Connection: close"));
  CHECK_THAT(response, Catch::Contains(message));
  CHECK(stub->calls == 0);
  CHECK(harness.metrics.admission_errors.value({"bad_request"}) == 1);
}

TEST_CASE("header fields over the limit get 431 and the connection is closed", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.max_header_bytes = 8 * 1024;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  REQUIRE(connection.write(
      postRequest(reviewBody("uid-431"), "X-Padding: " + std::string(10 * 1024, 'p') + "\r\n")));
  const auto [response, closed] = connection.readUntilClosed(5s);
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  CHECK_THAT(response, Catch::Contains("Connection: close"));
  CHECK(stub->calls == 0);

  // Just under the limit is fine.
  TlsConnection fitting(harness.server->port(), TlsOptions{});
  REQUIRE(fitting.connected());
  REQUIRE(fitting.write(
      postRequest(reviewBody("uid-fits"),
                  "Connection: close\r\nX-Padding: " + std::string(6 * 1024, 'p') + "\r\n")));
  const auto [fine, fine_closed] = fitting.readUntilClosed(5s);
  CHECK(fine.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(stub->calls == 1);
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body is sent", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  const std::string body = reviewBody("uid-expect", 1536 * 1024);  // > 1 MiB, as curl sends it

  SECTION("a raw client waits for the interim reply") {
    TlsConnection connection(harness.server->port(), TlsOptions{});
    REQUIRE(connection.connected());
    REQUIRE(
        connection.write("POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nExpect: 100-continue\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n"));
    const auto [interim, interim_closed] = connection.readUntilClosed(500ms);
    CHECK_FALSE(interim_closed);
    CHECK(interim == "HTTP/1.1 100 Continue\r\n\r\n");
    REQUIRE(connection.write(body));
    REQUIRE(connection.write(postRequest(reviewBody("uid-next"), "Connection: close\r\n")));
    const auto [response, closed] = connection.readUntilClosed(5s);
    CHECK(closed);
    CHECK(countOf(response, "HTTP/1.1 200 OK\r\n") == 2);
    CHECK(response.find("uid-expect") < response.find("uid-next"));
  }
  SECTION("curl sends its large body after the 100") {
    const fs::path file = harness.dir.path / "review.json";
    writeFile(file, body);
    const fs::path out = harness.dir.path / "reply.json";
    const std::string command = "curl -sS --max-time 10 --cacert '" + cert("ca.crt") +
                                "' -H 'Content-Type: application/json' --data-binary '@" +
                                file.string() + "' -o '" + out.string() +
                                "' https://localhost:" + std::to_string(harness.server->port()) +
                                "/validate 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    std::ifstream in(out);
    const json reply = json::parse(in);
    CHECK(reply["response"]["uid"] == "uid-expect");
    CHECK(reply["response"]["allowed"] == true);
  }
  CHECK(stub->calls >= 1);
}

TEST_CASE("HTTP/1.0 closes after the reply unless keep-alive is asked for", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  const std::string body = reviewBody("uid-10");
  const std::string request =
      "POST /validate HTTP/1.0\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n";
  TlsConnection plain(harness.server->port(), TlsOptions{});
  REQUIRE(plain.connected());
  REQUIRE(plain.write(request + "\r\n" + body));
  const auto [response, closed] = plain.readUntilClosed(5s);
  CHECK(closed);
  CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_THAT(response, Catch::Contains("Connection: close"));

  TlsConnection kept(harness.server->port(), TlsOptions{});
  REQUIRE(kept.connected());
  REQUIRE(kept.write(request + "Connection: keep-alive\r\n\r\n" + body));
  const auto [first, first_closed] = kept.readUntilClosed(500ms);
  CHECK_FALSE(first_closed);
  CHECK_THAT(first, Catch::Contains("Connection: keep-alive"));
  CHECK(countOf(first, "HTTP/1.1 200 OK\r\n") == 1);
}

TEST_CASE("a keep-alive connection is closed after its maximum number of requests",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.keep_alive_max_requests = 2;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  REQUIRE(connection.write(postRequest(reviewBody("max-1")) + postRequest(reviewBody("max-2")) +
                           postRequest(reviewBody("max-3"))));
  const auto [response, closed] = connection.readUntilClosed(5s);
  CHECK(closed);
  CHECK(countOf(response, "HTTP/1.1 200 OK\r\n") == 2);
  CHECK(countOf(response, "Connection: close") == 1);
  CHECK(response.find("Connection: close") > response.find("max-1"));
  CHECK(response.find("max-3") == std::string::npos);
  CHECK(stub->calls == 2);
}

TEST_CASE("an idle keep-alive connection is closed after the keep-alive timeout",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.keep_alive_timeout_seconds = 1;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  REQUIRE(connection.write(postRequest(reviewBody("idle"))));
  const auto started = std::chrono::steady_clock::now();
  const auto [response, closed] = connection.readUntilClosed(5s);
  const auto lasted = std::chrono::steady_clock::now() - started;
  CHECK(closed);
  CHECK(countOf(response, "HTTP/1.1 200 OK\r\n") == 1);
  CHECK(response.find("Connection: close") == std::string::npos);
  CHECK(lasted >= 900ms);
  CHECK(lasted < 3s);
  CHECK(stub->calls == 1);
}

TEST_CASE("64 concurrent keep-alive connections on 2 event-loop threads are all served",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.worker_threads = 2;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  constexpr int kConnections = 64;
  constexpr int kRequests = 3;
  std::latch all_open(kConnections);
  std::latch checked(1);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&, c] {
      auto client = harness.client();
      client->set_keep_alive(true);
      for (int r = 0; r < kRequests; ++r) {
        const std::string uid = "c" + std::to_string(c) + "-r" + std::to_string(r);
        const auto result = client->Post("/validate", reviewBody(uid), "application/json");
        if (result && result->status == 200 &&
            json::parse(result->body)["response"]["uid"] == uid) {
          ++ok;
        }
        if (r == 0) {
          all_open.count_down();
          checked.wait();
        }
      }
    });
  }
  all_open.wait();
  // Every connection is open at once and none is being answered.
  const double open =
      harness.metrics.queued_connections.value() + harness.metrics.busy_workers.value();
  checked.count_down();
  for (std::thread& client : clients) client.join();
  CHECK(open == kConnections);
  CHECK(ok == kConnections * kRequests);
  CHECK(stub->calls == kConnections * kRequests);
}

// Two requests on two connections (so on the two loops); returns how many decisions ran at once
// while the decider held them.
int decisionsRunningAtOnce(int max_concurrent_decisions) {
  auto stub = std::make_shared<StubDecider>();
  stub->hold = true;
  HttpsServerOptions options;
  options.worker_threads = 2;
  options.max_concurrent_decisions = max_concurrent_decisions;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      const std::string uid = "slot-" + std::to_string(c);
      const auto result = harness.client()->Post("/validate", reviewBody(uid), "application/json");
      if (result && result->status == 200) ++ok;
    });
  }
  int running = 0;
  {
    std::unique_lock lock(stub->mutex);
    stub->cv.wait_for(lock, 5s, [&] { return stub->entered >= 1; });
    stub->cv.wait_for(lock, 500ms, [&] { return stub->entered >= 2; });
    running = stub->entered;
    stub->hold = false;
    stub->cv.notify_all();
  }
  for (std::thread& client : clients) client.join();
  CHECK(ok == 2);
  return running;
}

TEST_CASE(
    "a decision limit (--max-concurrent-decisions) makes decisions wait for a slot; by default "
    "the loops decide at once",
    "[server][http]") {
  CHECK(decisionsRunningAtOnce(1) == 1);
  CHECK(decisionsRunningAtOnce(0) == 2);
}

TEST_CASE("the default is four event-loop threads per CPU, at most 64", "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  HttpsServerOptions{});
  const int cpus = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  CHECK(harness.server->loopThreads() == std::min(64, 4 * cpus));
  const auto result = harness.client()->Post("/validate", reviewBody("u1"), "application/json");
  REQUIRE(result);
  CHECK(result->status == 200);
}

TEST_CASE("a client still sending a body far over the limit reads its 413 reply, not a reset",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.max_body_bytes = 64 * 1024;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  TlsConnection connection(harness.server->port(), TlsOptions{});
  REQUIRE(connection.connected());
  // The server stops reading TLS after the uid prefix, answers, then drops what still arrives
  // until the client is done, so the whole body can be written and the reply read.
  REQUIRE(connection.write(postRequest(reviewBody("uid-far", 1024 * 1024))));
  const auto [response, closed] = connection.readUntilClosed(5s);
  CHECK(closed);
  REQUIRE(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_THAT(response, Catch::Contains("Connection: close"));
  const json reply = json::parse(response.substr(response.find("\r\n\r\n") + 4));
  CHECK(reply["response"]["uid"] == "uid-far");
  CHECK(reply["response"]["status"]["code"] == 413);
  CHECK(stub->calls == 0);
}

TEST_CASE("bound to :: the admission port serves IPv4 and IPv6 clients", "[server][http]") {
  spdlog::set_level(spdlog::level::warn);
  auto stub = std::make_shared<StubDecider>();
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  CertReloader certs({cert("server.crt"), cert("server.key")}, metrics);
  std::string error;
  REQUIRE(certs.loadInitial(error));
  HttpsServerOptions options;
  options.bind_address = "::";
  options.port = 0;
  HttpsServer server(
      options, certs,
      [stub](auto route, auto type, auto body) { return (*stub)(route, type, body); }, metrics);
  INFO(error);
  REQUIRE(server.start(error));
  REQUIRE(server.port() > 0);
  for (const std::string host : {"127.0.0.1", "::1"}) {
    CAPTURE(host);
    httplib::SSLClient client(host, server.port());
    client.enable_server_certificate_verification(false);  // the SANs name 127.0.0.1, not ::1
    client.set_read_timeout(5, 0);
    const auto result = client.Post("/validate", reviewBody("uid-" + host), "application/json");
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(json::parse(result->body)["response"]["uid"] == "uid-" + host);
  }
  server.shutdown();
  CHECK_FALSE(server.running());
  server.shutdown();  // idempotent
}

// The TLS records (content type, length) that arrive in answer to `request`, read off the TCP
// stream under a client whose TLS runs over memory BIOs.
std::vector<std::pair<int, std::size_t>> replyRecords(int port, int version,
                                                      const std::string& request) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, version);
  SSL_CTX_set_max_proto_version(ctx, version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  const int fd = connectLoopback(port);
  std::string raw;
  const auto flush = [&] {
    char buffer[16384];
    int n = 0;
    while ((n = BIO_read(out, buffer, sizeof buffer)) > 0) {
      REQUIRE(::send(fd, buffer, static_cast<std::size_t>(n), MSG_NOSIGNAL) == n);
    }
  };
  const auto receive = [&](std::chrono::milliseconds wait) {
    timeval timeout{0, static_cast<suseconds_t>(wait.count() * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char buffer[16384];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    raw.append(buffer, static_cast<std::size_t>(n));
    BIO_write(in, buffer, static_cast<int>(n));
    return true;
  };
  for (int round = 0; SSL_do_handshake(ssl) != 1; ++round) {
    flush();
    REQUIRE(round < 20);
    REQUIRE(receive(2000ms));
  }
  flush();
  // TLS 1.3 sends its session tickets after the handshake: take them in first.
  while (receive(300ms)) {
  }
  char byte = 0;
  SSL_read(ssl, &byte, 1);
  const std::size_t start = raw.size();
  REQUIRE(SSL_write(ssl, request.data(), static_cast<int>(request.size())) ==
          static_cast<int>(request.size()));
  flush();
  while (receive(500ms)) {
  }
  std::vector<std::pair<int, std::size_t>> records;
  for (std::size_t at = start; at + 5 <= raw.size();) {
    const auto length = static_cast<std::size_t>((static_cast<unsigned char>(raw[at + 3]) << 8) |
                                                 static_cast<unsigned char>(raw[at + 4]));
    records.emplace_back(static_cast<unsigned char>(raw[at]), length);
    at += 5 + length;
  }
  ::close(fd);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return records;
}

TEST_CASE("a reply (status line, headers, body) comes in one TLS record", "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  const int version = GENERATE(TLS1_2_VERSION, TLS1_3_VERSION);
  CAPTURE(version);
  const auto records =
      replyRecords(harness.server->port(), version, postRequest(reviewBody("uid-record")));
  REQUIRE(records.size() == 1);
  CHECK(records[0].first == 23);  // application data
  CHECK(stub->calls == 1);
}

TEST_CASE("at the connection cap the server waits for a connection to close before accepting",
          "[server][http]") {
  auto stub = std::make_shared<StubDecider>();
  HttpsServerOptions options;
  options.max_connections = 2;
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); },
                  options);
  auto first = std::make_unique<TlsConnection>(harness.server->port(), TlsOptions{});
  auto second = std::make_unique<TlsConnection>(harness.server->port(), TlsOptions{});
  REQUIRE(first->connected());
  REQUIRE(second->connected());
  // The third is in the listen backlog: its handshake waits until one of the two closes.
  auto third = std::async(std::launch::async, [&] {
    TlsConnection connection(harness.server->port(), TlsOptions{});
    if (!connection.connected()) return std::string("no handshake: ") + connection.error();
    connection.write(postRequest(reviewBody("third"), "Connection: close\r\n"));
    return connection.readUntilClosed(5s).first;
  });
  CHECK(third.wait_for(500ms) == std::future_status::timeout);
  first.reset();
  REQUIRE(third.wait_for(5s) == std::future_status::ready);
  CHECK_THAT(third.get(), Catch::Contains("third"));
}

// =============================================================================================
// Admin port

TEST_CASE("admin: healthz, readyz before and after the first sync, metrics after requests",
          "[server]") {
  auto stub = std::make_shared<StubDecider>();
  Harness harness([stub](auto route, auto type, auto body) { return (*stub)(route, type, body); });
  auto admin = harness.adminClient();

  const auto health = admin->Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);

  const auto before = admin->Get("/readyz");
  REQUIRE(before);
  CHECK(before->status == 503);
  const json not_ready = json::parse(before->body);
  CHECK(not_ready["ready"] == false);
  CHECK(not_ready["synced"] == false);
  CHECK(not_ready["stale_seconds"].is_null());
  CHECK(not_ready["cert_loaded"] == true);
  CHECK(not_ready["draining"] == false);
  CHECK(not_ready["reasons"][0] == "cluster state not synced yet");

  harness.store.publish(stateFrom(kSmallState));
  const auto after = admin->Get("/readyz");
  REQUIRE(after);
  CHECK(after->status == 200);
  const json ready = json::parse(after->body);
  CHECK(ready["ready"] == true);
  CHECK(ready["synced"] == true);
  CHECK(ready["stale_seconds"].get<double>() < 5.0);

  auto client = harness.client();
  for (int i = 0; i < 3; ++i)
    REQUIRE(client->Post("/validate", reviewBody("m"), "application/json"));
  const auto metrics = admin->Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type") == MetricsRegistry::kContentType);
  const std::string& text = metrics->body;
  CHECK_THAT(text, Catch::Contains("# TYPE peergate_admission_requests_total counter"));
  CHECK_THAT(text, Catch::Contains("peergate_admission_requests_total{webhook=\"validate\","
                                   "kind=\"PeerAuthentication\",operation=\"CREATE\","
                                   "allowed=\"true\"} 3"));
  CHECK_THAT(text, Catch::Contains(
                       "peergate_admission_review_duration_seconds_count{webhook=\"validate\"} 3"));
  CHECK_THAT(text, Catch::Contains("peergate_admission_review_duration_seconds_bucket{webhook="
                                   "\"validate\",le=\"+Inf\"} 3"));
  CHECK_THAT(text, Catch::Contains("peergate_findings_total{code=\"PG0104\",action=\"warn\"} 3"));
  CHECK_THAT(text, Catch::Contains("peergate_serving_cert_reloads_total{result=\"success\"} 1"));
  CHECK_THAT(text, Catch::Contains("# TYPE peergate_serving_cert_expiry_timestamp_seconds gauge"));
  CHECK_THAT(text, Catch::Contains("# HELP peergate_cluster_state_syncs_total "));
}

TEST_CASE("readiness: stale state, draining and a missing certificate each say why", "[server]") {
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  StateStore store;
  store.publish(stateFrom(kSmallState));
  CertReloader certs({cert("server.crt"), cert("server.key")}, metrics);
  std::string error;
  REQUIRE(certs.loadInitial(error));
  const auto now = StateStore::Clock::now();
  const auto wall = std::chrono::system_clock::now();

  const Readiness fresh = evaluateReadiness(store, &certs, false, 300, now, wall);
  CHECK(fresh.ready);
  CHECK(fresh.reasons.empty());

  const Readiness stale = evaluateReadiness(store, &certs, false, 300, now + 301s, wall);
  CHECK_FALSE(stale.ready);
  REQUIRE(stale.reasons.size() == 1);
  CHECK_THAT(stale.reasons[0], Catch::StartsWith("cluster state is stale: last confirmed 30"));
  const json body = json::parse(stale.json(300));
  CHECK(body["stale_seconds"].get<double>() >= 301.0);
  CHECK(body["max_staleness_seconds"] == 300);

  const Readiness draining = evaluateReadiness(store, &certs, true, 300, now, wall);
  CHECK_FALSE(draining.ready);
  CHECK(draining.reasons == std::vector<std::string>{"draining: shutting down"});

  const Readiness no_cert = evaluateReadiness(store, nullptr, false, 300, now, wall);
  CHECK_FALSE(no_cert.ready);
  CHECK(no_cert.reasons == std::vector<std::string>{"no serving certificate loaded"});
}

// =============================================================================================
// Metrics registry

TEST_CASE("metrics render the Prometheus text format with escaped labels and buckets", "[server]") {
  MetricsRegistry registry;
  Counter& requests = registry.counter("t_requests_total", "Requests.\nSecond line.", {"path"});
  Gauge& temperature = registry.gauge("t_temperature", "A gauge without labels.");
  Histogram& latency =
      registry.histogram("t_latency_seconds", "Latency.", {"route"}, {0.1, 0.5, 1});
  registry.counter("t_unused_total", "Never incremented.");

  requests.inc({"/a\"b\\c\nd"});
  requests.inc({"/a\"b\\c\nd"}, 2);
  temperature.set(-1.5);
  latency.observe({"v"}, 0.05);
  latency.observe({"v"}, 0.1);
  latency.observe({"v"}, 0.7);
  latency.observe({"v"}, 3);

  CHECK(registry.render() ==
        "# HELP t_requests_total Requests.\\nSecond line.\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{path=\"/a\\\"b\\\\c\\nd\"} 3\n"
        "# HELP t_temperature A gauge without labels.\n"
        "# TYPE t_temperature gauge\n"
        "t_temperature -1.5\n"
        "# HELP t_latency_seconds Latency.\n"
        "# TYPE t_latency_seconds histogram\n"
        "t_latency_seconds_bucket{route=\"v\",le=\"0.1\"} 2\n"
        "t_latency_seconds_bucket{route=\"v\",le=\"0.5\"} 2\n"
        "t_latency_seconds_bucket{route=\"v\",le=\"1\"} 3\n"
        "t_latency_seconds_bucket{route=\"v\",le=\"+Inf\"} 4\n"
        "t_latency_seconds_sum{route=\"v\"} 3.85\n"
        "t_latency_seconds_count{route=\"v\"} 4\n"
        "# HELP t_unused_total Never incremented.\n"
        "# TYPE t_unused_total counter\n"
        "t_unused_total 0\n");
}

TEST_CASE("metric values print as Prometheus parses them", "[server]") {
  CHECK(formatMetricValue(0.0005) == "0.0005");
  CHECK(formatMetricValue(3) == "3");
  CHECK(formatMetricValue(1795394003.25) == "1795394003.25");
  CHECK(formatMetricValue(1e21) == "1e+21");
  CHECK(formatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(formatMetricValue(std::nan("")) == "NaN");
}

TEST_CASE("metrics stay consistent under concurrent updates", "[server]") {
  MetricsRegistry registry;
  Counter& counter = registry.counter("t_total", "Total.", {"worker"});
  Histogram& histogram = registry.histogram("t_seconds", "Seconds.", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        counter.inc({std::to_string(t % 2)});
        histogram.observe({}, 0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(counter.value({"0"}) == 20000);
  CHECK(counter.value({"1"}) == 20000);
  CHECK(histogram.count() == 40000);
}

// =============================================================================================
// Decision log

TEST_CASE(
    "the decision line carries uid, kind, namespace, name, operation, user, verdict, "
    "findings and latency",
    "[server]") {
  AdmissionOutcome outcome;
  outcome.webhook = "validate";
  outcome.uid = "705ab4f5";
  outcome.kind = "PeerAuthentication";
  outcome.namespace_name = "foo";
  outcome.name = "default";
  outcome.operation = "CREATE";
  outcome.user = "alice";
  outcome.allowed = false;
  outcome.message = "STRICT would cut off 3 plaintext clients";
  outcome.findings = {{"PG0002", "deny"}, {"PG0005", "deny"}};
  const auto time = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));

  const std::string json_line =
      formatLogLine(LogFormat::Json, spdlog::level::info, "admission decision",
                    decisionFields(outcome, 1.23456), time);
  const json line = json::parse(json_line);
  CHECK(line["time"] == "2026-01-01T00:00:00.000Z");
  CHECK(line["level"] == "info");
  CHECK(line["msg"] == "admission decision");
  CHECK(line["uid"] == "705ab4f5");
  CHECK(line["kind"] == "PeerAuthentication");
  CHECK(line["namespace"] == "foo");
  CHECK(line["name"] == "default");
  CHECK(line["operation"] == "CREATE");
  CHECK(line["user"] == "alice");
  CHECK(line["verdict"] == "denied");
  CHECK(line["findings"] == json::array({"PG0002", "PG0005"}));
  CHECK(line["latency_ms"] == 1.235);

  const std::string text_line =
      formatLogLine(LogFormat::Text, spdlog::level::info, "admission decision",
                    decisionFields(outcome, 1.23456), time);
  CHECK(text_line ==
        "2026-01-01T00:00:00.000Z info  admission decision webhook=validate uid=705ab4f5 "
        "kind=PeerAuthentication namespace=foo name=default operation=CREATE user=alice "
        "verdict=denied findings=PG0002,PG0005 "
        "message=\"STRICT would cut off 3 plaintext clients\" latency_ms=1.235");
  CHECK(parseLogFormat("json") == LogFormat::Json);
  CHECK(parseLogFormat("text") == LogFormat::Text);
  CHECK_FALSE(parseLogFormat("xml"));
}

// =============================================================================================
// Static cluster state

TEST_CASE(
    "static state: loads a directory, keeps the last good state on a decode error, "
    "reloads on change",
    "[server]") {
  spdlog::set_level(spdlog::level::off);
  TempDir dir("peergate-state");
  fs::create_directories(dir.path / "nested");
  fs::create_directories(dir.path / "..2026_01_01");  // a ConfigMap volume's hidden copy
  writeFile(dir.path / "namespaces.yaml", std::string(kSmallState));
  writeFile(dir.path / "nested" / "pa.json",
            R"({"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication",
                "metadata":{"name":"default","namespace":"foo"},
                "spec":{"mtls":{"mode":"STRICT"}}})");
  writeFile(dir.path / "..2026_01_01" / "namespaces.yaml", std::string(kSmallState));
  writeFile(dir.path / "README.md", "not a manifest");

  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  StateStore store;
  StaticStateSource source({dir.path.string(), 20ms}, metrics);
  std::string error;
  REQUIRE(source.start(store, error));
  source.stop();  // the test drives the polls
  REQUIRE(store.synced());
  const auto first = store.current();
  CHECK(first->inputs().namespaces.size() == 1);
  CHECK(first->inputs().peer_authentications.size() == 1);
  CHECK(metrics.cluster_state_syncs.value({"success"}) == 1);
  CHECK(metrics.cluster_state_objects.value({"PeerAuthentication"}) == 1);
  CHECK(metrics.cluster_state_last_sync.value() > 1.7e9);

  // Unchanged: the same snapshot, re-confirmed.
  const auto synced_at = store.lastSync();
  std::this_thread::sleep_for(5ms);
  CHECK(source.pollOnce() == StaticStateSource::PollResult::Unchanged);
  CHECK(store.current() == first);
  CHECK(store.lastSync() > synced_at);

  // A broken file: the last good snapshot stays, counted as an error, not re-confirmed.
  writeFile(dir.path / "nested" / "pa.json", R"({"kind": "PeerAuthentication", "spec": [)");
  CHECK(source.pollOnce() == StaticStateSource::PollResult::Failed);
  CHECK(store.current() == first);
  CHECK(metrics.cluster_state_syncs.value({"error"}) == 1);
  const auto failed_at = store.lastSync();
  CHECK(source.pollOnce() == StaticStateSource::PollResult::Failed);
  CHECK(store.lastSync() == failed_at);
  CHECK(metrics.cluster_state_syncs.value({"error"}) == 1);  // logged and counted once

  // Fixed, with a second policy: reloaded.
  writeFile(dir.path / "nested" / "pa.json",
            R"({"apiVersion":"v1","kind":"List","items":[
                {"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication",
                 "metadata":{"name":"default","namespace":"foo"},
                 "spec":{"mtls":{"mode":"PERMISSIVE"}}},
                {"apiVersion":"security.istio.io/v1","kind":"PeerAuthentication",
                 "metadata":{"name":"web","namespace":"foo"},
                 "spec":{"selector":{"matchLabels":{"app":"web"}},"mtls":{"mode":"STRICT"}}}]})");
  CHECK(source.pollOnce() == StaticStateSource::PollResult::Reloaded);
  CHECK(store.current() != first);
  CHECK(store.current()->inputs().peer_authentications.size() == 2);
  CHECK(metrics.cluster_state_syncs.value({"success"}) == 2);
}

TEST_CASE("static state: a broken file at start is a startup error naming file and path",
          "[server]") {
  spdlog::set_level(spdlog::level::off);
  TempDir dir("peergate-state");
  writeFile(dir.path / "bad.yaml",
            "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
            "metadata: {name: a, namespace: foo}\nspec: {mtls: {mode: [1]}}\n");
  MetricsRegistry registry;
  ServerMetrics metrics(registry);
  StateStore store;
  StaticStateSource source({(dir.path / "bad.yaml").string(), 20ms}, metrics);
  std::string error;
  CHECK_FALSE(source.start(store, error));
  CHECK_THAT(error, Catch::Contains("bad.yaml"));
  CHECK_FALSE(store.synced());

  StaticStateSource missing({(dir.path / "none.yaml").string(), 20ms}, metrics);
  CHECK_FALSE(missing.start(store, error));
  CHECK_THAT(error, Catch::Contains("none.yaml"));
  CHECK_THAT(error, Catch::Contains("no such file"));
}

// =============================================================================================
// The binary: `peergate webhook` serves, drains on SIGTERM and exits 0

// Starts `peergate webhook ARGS...` with stderr in `log`; returns the pid.
pid_t spawnWebhook(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv = {PEERGATE_BINARY, "webhook"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> pointers;
  for (std::string& arg : argv) pointers.push_back(arg.data());
  pointers.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int status =
      posix_spawn(&pid, PEERGATE_BINARY, &actions, nullptr, pointers.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(status == 0);
  return pid;
}

// The first JSON log line whose msg is `message`, waiting up to `limit`.
std::optional<json> waitForLogLine(const fs::path& log, const std::string& message,
                                   std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      const json parsed = json::parse(line, nullptr, false);
      if (!parsed.is_discarded() && parsed.value("msg", "") == message) return parsed;
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

// waitpid with a time limit; the exit status, or nullopt (after SIGKILL) when it did not exit.
std::optional<int> waitExit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return std::nullopt;
}

TEST_CASE("peergate webhook serves from --cluster-state and drains on SIGTERM", "[server]") {
  TempDir dir("peergate-binary");
  writeFile(dir.path / "state.yaml", std::string(kMeshState));
  const fs::path log = dir.path / "webhook.log";
  const pid_t pid = spawnWebhook(
      {"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1", "--tls-cert",
       cert("server.crt"), "--tls-key", cert("server.key"), "--cluster-state",
       (dir.path / "state.yaml").string(), "--shutdown-delay", "0.3", "--log-format", "json"},
      log);
  const std::optional<json> serving = waitForLogLine(log, "serving", 20s);
  if (!serving) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL("no 'serving' line in the log");
  }
  const int port = (*serving)["https_port"];
  const int admin_port = (*serving)["admin_port"];

  httplib::Client admin("127.0.0.1", admin_port);
  admin.set_read_timeout(5, 0);
  const auto ready = admin.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);

  httplib::SSLClient client("localhost", port);
  client.set_ca_cert_path(cert("ca.crt").c_str());
  client.enable_server_certificate_verification(true);
  client.set_read_timeout(5, 0);
  const auto denied =
      client.Post("/validate", policyReview("uid-bin", "legacy", "STRICT"), "application/json");
  REQUIRE(denied);
  CHECK(denied->status == 200);
  CHECK(json::parse(denied->body)["response"]["allowed"] == false);
  const std::optional<json> decision = waitForLogLine(log, "admission decision", 5s);
  REQUIRE(decision);
  CHECK((*decision)["uid"] == "uid-bin");
  CHECK((*decision)["verdict"] == "denied");
  CHECK((*decision)["user"] == "alice");
  CHECK((*decision)["latency_ms"].is_number());

  REQUIRE(::kill(pid, SIGTERM) == 0);
  std::this_thread::sleep_for(100ms);  // within the shutdown delay: not ready, still answering
  const auto draining = admin.Get("/readyz");
  REQUIRE(draining);
  CHECK(draining->status == 503);
  const std::optional<int> exit_code = waitExit(pid, 10s);
  REQUIRE(exit_code);
  CHECK(*exit_code == 0);
  CHECK(waitForLogLine(log, "drained; exiting", 1s));
}

TEST_CASE("peergate webhook exits 65 on an undecodable --cluster-state and 64 without one",
          "[server]") {
  TempDir dir("peergate-binary");
  writeFile(dir.path / "bad.yaml", "kind: PeerAuthentication\nmetadata: [\n");
  const fs::path log = dir.path / "webhook.log";
  const pid_t bad = spawnWebhook({"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1",
                                  "--tls-cert", cert("server.crt"), "--tls-key", cert("server.key"),
                                  "--cluster-state", (dir.path / "bad.yaml").string()},
                                 log);
  CHECK(waitExit(bad, 10s) == 65);
  CHECK(waitForLogLine(log, "cannot load the cluster state", 1s));

  const pid_t none = spawnWebhook(
      {"--port", "0", "--tls-cert", cert("server.crt"), "--tls-key", cert("server.key")}, log);
  CHECK(waitExit(none, 10s) == 64);

  const pid_t bad_cert =
      spawnWebhook({"--port", "0", "--tls-cert", cert("server.crt"), "--tls-key",
                    cert("server2.key"), "--cluster-state", (dir.path / "bad.yaml").string()},
                   log);
  CHECK(waitExit(bad_cert, 10s) == 65);
}

TEST_CASE(
    "peergate webhook warns at startup about an Error finding turned off, and exits 65 "
    "naming the key of an invalid config",
    "[server]") {
  TempDir dir("peergate-binary");
  writeFile(dir.path / "state.yaml", std::string(kMeshState));
  writeFile(dir.path / "off.yaml", "actions:\n  PG0101: off\n");
  writeFile(dir.path / "bad.yaml", "maxStalenessSeconds: -30\n");
  const fs::path log = dir.path / "webhook.log";
  const auto start = [&](const std::string& config) {
    return spawnWebhook({"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1",
                         "--tls-cert", cert("server.crt"), "--tls-key", cert("server.key"),
                         "--cluster-state", (dir.path / "state.yaml").string(), "--config",
                         (dir.path / config).string(), "--log-format", "json"},
                        log);
  };
  const pid_t off = start("off.yaml");
  const std::optional<json> warning = waitForLogLine(log, "config turns off an Error finding", 20s);
  ::kill(off, SIGKILL);
  ::waitpid(off, nullptr, 0);
  REQUIRE(warning);
  CHECK((*warning)["level"] == "warn");
  CHECK_THAT((*warning)["warning"].get<std::string>(),
             Catch::Contains("actions.PG0101: MeshWideDisable is an Error finding turned off"));

  const pid_t bad = start("bad.yaml");
  CHECK(waitExit(bad, 10s) == 65);
  const std::optional<json> error = waitForLogLine(log, "invalid config file", 1s);
  REQUIRE(error);
  CHECK_THAT((*error)["error"].get<std::string>(),
             Catch::Contains("bad.yaml:1: maxStalenessSeconds: must be at least 1 (seconds)"));
}

}  // namespace
}  // namespace peergate::webhook
