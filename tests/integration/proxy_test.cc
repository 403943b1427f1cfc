// The proxy over real sockets on 127.0.0.x (ephemeral ports, --inbound-map/--outbound-map in
// place of iptables), with a real echo app, real TLS clients and the identities of
// tests/testdata/proxy/gen.sh. Every wait has a deadline.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../support/proxy_harness.h"
#include "../support/sanitizers.h"
#include "peergate/proxy/admin_server.h"
#include "peergate/proxy/client_hello.h"
#include "peergate/proxy/proxy_server.h"
#include "peergate/proxy/proxy_stats.h"
#include "peergate/proxy/tls_contexts.h"
#include "peergate/validation/observations.h"

namespace peergate::proxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::EchoApp;
using testing::exchangePlain;
using testing::exchangeTls;
using testing::identityDir;

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A cluster state directory: the mesh pods, and the httpbin policy in its own file so a test
// can rewrite it.
struct ClusterFiles {
  testing::TempDir dir{"peergate-proxy-state"};

  explicit ClusterFiles(uint16_t app_port, const std::string& policy_yaml) {
    testing::writeFileAtomically(dir.path() / "pods.yaml", testing::meshPodsYaml(app_port));
    setPolicy(policy_yaml);
  }
  void setPolicy(const std::string& yaml) const {
    testing::writeFileAtomically(dir.path() / "policy.yaml", yaml);
  }
};

ProxyOptions podOptions(const std::string& pod, const fs::path& state, const fs::path& certs) {
  ProxyOptions options;
  options.pod_namespace = "foo";
  options.pod_name = pod;
  options.cluster_state = state.string();
  options.certs_dir = certs.string();
  options.bind_address = "127.0.0.1";
  options.inbound_port = -1;
  options.outbound_port = -1;
  options.limits.sniff_timeout = 200ms;
  options.limits.handshake_timeout = 2s;
  return options;
}

// The server side: pod foo/httpbin with inbound listeners for `app_ports`.
ProxyOptions serverOptions(const fs::path& state, std::vector<uint16_t> app_ports,
                           const std::string& bind = "127.0.0.1",
                           const std::string& identity = "httpbin") {
  ProxyOptions options = podOptions("httpbin", state, identityDir(identity));
  options.bind_address = bind;
  for (uint16_t port : app_ports) options.inbound_map.push_back({0, port});
  return options;
}

struct RunningProxy {
  ProxyStats stats;
  ProxyServer server;

  explicit RunningProxy(ProxyOptions options) : server(std::move(options), stats) {
    std::string error;
    INFO(error);
    REQUIRE(server.start(error));
  }
  uint16_t inbound(std::size_t index = 0) const { return server.inboundMapPorts().at(index); }
  uint16_t outbound(std::size_t index = 0) const { return server.outboundMapPorts().at(index); }
};

// Writes `identity`'s key and certificate over the ones in `dir`, as a rotation does.
void rotateIdentity(const fs::path& dir, const std::string& identity) {
  for (const char* name : {"key.pem", "cert.pem"}) {
    std::ifstream source(identityDir(identity) / name);
    std::stringstream text;
    text << source.rdbuf();
    testing::writeFileAtomically(dir / name, text.str());
  }
}

void quietLogs() { spdlog::set_level(spdlog::level::warn); }

// A mesh client as a proxy is one: a mesh identity, and the ALPN by which a PERMISSIVE port
// tells mesh mTLS from the app's own TLS.
testing::TlsClientOptions meshClient(const std::string& identity,
                                     std::vector<std::string> alpn = {"peergate", "istio"}) {
  testing::TlsClientOptions options;
  options.certs = identityDir(identity);
  options.alpn = std::move(alpn);
  return options;
}

// A client of an app that serves its own TLS (AppTls::Own): no mesh identity, it trusts the
// app's CA and checks the app's name, as curl https://app.example would.
testing::TlsClientOptions appClient(std::vector<std::string> alpn) {
  testing::TlsClientOptions options;
  options.alpn = std::move(alpn);
  options.trust = identityDir("app-tls") / "ca.pem";
  options.host = "app.example";
  return options;
}

constexpr long kAppSerial = 0x3007;  // the app's own certificate (gen.sh app-tls)

nlohmann::json identitiesOf(RunningProxy& proxy) {
  return nlohmann::json::parse(
      proxy.stats.renderObservations(*proxy.server.config().policy(), ProxyStats::Clock::now()));
}

TEST_CASE("STRICT accepts a mesh client and the app sees its bytes", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  const testing::TlsExchange exchange = exchangeTls(proxy.inbound(), identityDir("curl"), "hello");
  CHECK(exchange.handshake);
  CHECK(exchange.server_id == "spiffe://cluster.local/ns/foo/sa/httpbin");
  CHECK(exchange.received == "helloEOF:5");
  CHECK(app.connections() == 1);
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 1;
  }));
}

TEST_CASE("STRICT refuses plaintext and every certificate that is not a mesh identity", "[proxy]") {
  quietLogs();
  const auto [identity, reason] = GENERATE(table<std::string, std::string>({
      {"", "no_client_cert"},
      {"untrusted", "untrusted_chain"},
      {"wrong-td", "wrong_trust_domain"},
      {"ca-leaf", "ca_leaf"},
  }));
  CAPTURE(identity, reason);
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  const fs::path certs = identity.empty() ? fs::path() : identityDir(identity);
  const testing::TlsExchange exchange = exchangeTls(proxy.inbound(), certs, "secret");
  CHECK(exchange.received.empty());
  CHECK(exchange.received.find("secret") == std::string::npos);

  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "GET / HTTP/1.0\r\n\r\n").empty());
  CHECK(eventually([&] { return proxy.stats.handshakeFailures(Direction::Inbound, reason) == 1; }));
  CHECK(eventually(
      [&] { return proxy.stats.handshakeFailures(Direction::Inbound, "plaintext") == 1; }));
  CHECK(proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "rejected") == 1);
  CHECK(proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "rejected") == 1);
  CHECK(app.connections() == 0);
}

TEST_CASE("PERMISSIVE serves plaintext and mTLS on the same port", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "plain") == "plainEOF:5");
  CHECK(exchangeTls(proxy.inbound(), meshClient("curl"), "tls").received == "tlsEOF:3");
  // A non-mesh certificate with the mesh ALPN is still refused: PERMISSIVE accepts plaintext,
  // not bad identities.
  CHECK(exchangeTls(proxy.inbound(), meshClient("untrusted"), "x").received.empty());
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 1 &&
           proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "forwarded") == 1 &&
           proxy.stats.handshakeFailures(Direction::Inbound, "untrusted_chain") == 1;
  }));
  CHECK(app.connections() == 2);
}

TEST_CASE("PERMISSIVE treats a client that sends nothing as plaintext after the sniff timeout",
          "[proxy]") {
  quietLogs();
  EchoApp app("220 ready\r\n");  // the server speaks first (SMTP, MySQL, ...)
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  const int fd = testing::connectTcp("127.0.0.1", proxy.inbound());
  REQUIRE(fd >= 0);
  const auto started = std::chrono::steady_clock::now();
  CHECK(testing::readExactly(fd, 11) == "220 ready\r\n");
  CHECK(std::chrono::steady_clock::now() - started >= 150ms);  // waited for the sniff timeout
  ::close(fd);
}

TEST_CASE("DISABLE passes bytes as they are, TLS records included", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("DISABLE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "plain") == "plainEOF:5");
  const std::string record("\x16\x03\x01\x00\x05hello", 10);
  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), record) == record + "EOF:10");
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "forwarded") == 2;
  }));
}

TEST_CASE("portLevelMtls DISABLE opens one port of a STRICT workload", "[proxy]") {
  quietLogs();
  EchoApp strict_app;
  EchoApp open_app;
  ClusterFiles files(strict_app.port(),
                     testing::httpbinPolicyYaml("STRICT", {{open_app.port(), "DISABLE"}}));
  RunningProxy proxy(serverOptions(files.dir.path(), {strict_app.port(), open_app.port()}));

  CHECK(exchangePlain("127.0.0.1", proxy.inbound(0), "a").empty());
  CHECK(exchangePlain("127.0.0.1", proxy.inbound(1), "b") == "bEOF:1");
  CHECK(exchangeTls(proxy.inbound(0), identityDir("curl"), "c").received == "cEOF:1");
}

TEST_CASE("inbound without an iptables redirect has no original destination and is refused",
          "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  ProxyOptions options = serverOptions(files.dir.path(), {});
  options.inbound_port = 0;
  RunningProxy proxy(std::move(options));

  CHECK(exchangePlain("127.0.0.1", proxy.server.inboundPort(), "x").empty());
  CHECK(eventually(
      [&] { return proxy.stats.handshakeFailures(Direction::Inbound, "no_original_dst") == 1; }));
  CHECK(app.connections() == 0);
}

// curl's proxy (outbound) → httpbin's proxy on 127.0.0.2 (inbound, STRICT) → the app.
struct OutboundChain {
  const bool multiplex;
  EchoApp app;
  ClusterFiles files{app.port(), testing::httpbinPolicyYaml("STRICT")};
  RunningProxy server{serverOptions(files.dir.path(), {app.port()}, "127.0.0.2")};
  RunningProxy client{clientOptions(files.dir.path(), "127.0.0.2", server.inbound(), multiplex)};

  explicit OutboundChain(bool multiplex_streams = true) : multiplex(multiplex_streams) {}

  static ProxyOptions clientOptions(const fs::path& state, const std::string& ip, uint16_t port,
                                    bool multiplex = true) {
    ProxyOptions options = podOptions("curl", state, identityDir("curl"));
    options.outbound_map.push_back({0, ip, port});
    options.multiplex = multiplex;
    return options;
  }
};

TEST_CASE("outbound originates mTLS to a destination that runs a proxy", "[proxy]") {
  quietLogs();
  OutboundChain chain;
  CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "via mesh") == "via meshEOF:8");
  CHECK(eventually([&] {
    return chain.client.stats.connections(Direction::Outbound, chain.server.inbound(), "mtls",
                                          "forwarded") == 1 &&
           chain.server.stats.connections(Direction::Inbound, chain.app.port(), "mtls",
                                          "forwarded") == 1;
  }));
}

TEST_CASE("the listeners are dual-stack: IPv4 and IPv6 clients on [::] reach the app",
          "[proxy][ipv6]") {
  quietLogs();
  CHECK(ProxyOptions().bind_address == "::");
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}, "::"));
  CHECK(proxy.server.bindAddress() == "::");

  testing::TlsClientOptions over_ipv6 = meshClient("curl");
  over_ipv6.ip = "::1";
  const testing::TlsExchange exchange = exchangeTls(proxy.inbound(), over_ipv6, "hello");
  CHECK(exchange.handshake);
  CHECK(exchange.server_id == "spiffe://cluster.local/ns/foo/sa/httpbin");
  CHECK(exchange.received == "helloEOF:5");
  CHECK(exchangePlain("::1", proxy.inbound(), "six") == "sixEOF:3");
  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "four") == "fourEOF:4");
  CHECK(app.connections() == 3);

  // The gate sees the IPv4 client as 127.0.0.1, never as ::ffff:127.0.0.1.
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "forwarded") == 2;
  }));
  const auto observations = validation::decodeObservations(
      proxy.stats.renderObservations(*proxy.server.config().policy(), ProxyStats::Clock::now()),
      "identities.json");
  REQUIRE(observations.ok());
  std::set<std::string> plaintext_sources;
  for (const validation::Observation& entry : observations.value().entries) {
    if (entry.security == "plaintext") plaintext_sources.insert(entry.source_ip);
  }
  CHECK(plaintext_sources == std::set<std::string>{"127.0.0.1", "::1"});
}

TEST_CASE("an IPv6 client reaches an app listening on ::1 only; an IPv4 client stays at 127.0.0.1",
          "[proxy][ipv6]") {
  quietLogs();
  EchoApp app("", "::1");
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("DISABLE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}, "::"));

  CHECK(exchangePlain("::1", proxy.inbound(), "six") == "sixEOF:3");
  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "four").empty());
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "forwarded") == 1 &&
           proxy.stats.connections(Direction::Inbound, app.port(), "plaintext",
                                   "upstream_failed") == 1;
  }));
  CHECK(app.connections() == 1);
}

TEST_CASE("outbound to a dual-stack pod's IPv6 address originates mTLS and checks its identity",
          "[proxy][ipv6]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  // httpbin's status.podIPs has ::1: the client must find its identity by that address.
  RunningProxy server(serverOptions(files.dir.path(), {app.port()}, "::1"));
  RunningProxy client(OutboundChain::clientOptions(files.dir.path(), "::1", server.inbound()));

  CHECK(exchangePlain("127.0.0.1", client.outbound(), "via six") == "via sixEOF:7");
  CHECK(eventually([&] {
    return client.stats.connections(Direction::Outbound, server.inbound(), "mtls", "forwarded") ==
               1 &&
           server.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 1;
  }));
}

TEST_CASE("later connections to the same proxy resume the TLS session and keep the peer's identity",
          "[proxy]") {
  quietLogs();
  OutboundChain chain(/*multiplex_streams=*/false);
  for (int i = 0; i < 3; ++i) {
    CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "again") == "againEOF:5");
  }
  CHECK(eventually([&] {
    return chain.server.stats.connections(Direction::Inbound, chain.app.port(), "mtls",
                                          "forwarded") == 3;
  }));
  // The first handshake is full; its ticket serves the next ones.
  CHECK(chain.client.stats.tlsResumptions(Direction::Outbound) == 2);
  CHECK(chain.server.stats.tlsResumptions(Direction::Inbound) == 2);
  // Resumed handshakes run no verify callback; the identity still comes from the certificate.
  const auto observations = validation::decodeObservations(
      chain.server.stats.renderObservations(*chain.server.server.config().policy(),
                                            ProxyStats::Clock::now()),
      "identities.json");
  REQUIRE(observations.ok());
  REQUIRE(observations.value().entries.size() == 1);
  CHECK(observations.value().entries[0].source_identity == "spiffe://cluster.local/ns/foo/sa/curl");
  CHECK(observations.value().entries[0].count == 3);
}

// TCP connections in ESTABLISHED state whose local port is `port` (/proc/net/tcp and tcp6).
int establishedOnLocalPort(uint16_t port) {
  int count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const std::size_t colon = local.rfind(':');
      if (state == "01" && colon != std::string::npos &&
          std::stoul(local.substr(colon + 1), nullptr, 16) == port) {
        ++count;
      }
    }
  }
  return count;
}

TEST_CASE("connections to the same peer proxy are streams of one mTLS connection", "[proxy][mux]") {
  quietLogs();
  OutboundChain chain;
  // The first connection sets the shared connection up; the next ones join it.
  std::vector<int> open;
  for (int i = 0; i < 5; ++i) {
    const int fd = testing::connectTcp("127.0.0.1", chain.client.outbound());
    REQUIRE(fd >= 0);
    open.push_back(fd);
    const std::string hello = "stream " + std::to_string(i);
    REQUIRE(testing::sendAll(fd, hello));
    CHECK(testing::readExactly(fd, hello.size()) == hello);
  }
  // Five proxied connections, one TCP connection into the server proxy.
  CHECK(establishedOnLocalPort(chain.server.inbound()) == 1);
  for (int fd : open) {
    ::shutdown(fd, SHUT_WR);
    CHECK(testing::readToEnd(fd) == "EOF:8");
    ::close(fd);
  }
  CHECK(eventually([&] {
    return chain.server.stats.connections(Direction::Inbound, chain.app.port(), "mtls",
                                          "forwarded") == 5 &&
           chain.server.stats.active() == 0 && chain.client.stats.active() == 0;
  }));
  CHECK(chain.client.stats.muxStreams(Direction::Outbound) == 5);
  CHECK(chain.server.stats.muxStreams(Direction::Inbound) == 5);
  CHECK(chain.client.stats.connections(Direction::Outbound, chain.server.inbound(), "mtls",
                                       "forwarded") == 5);
  CHECK(chain.client.stats.tlsResumptions(Direction::Outbound) == 0);
  // Every stream is seen with the identity the shared connection proved.
  const nlohmann::json identities = identitiesOf(chain.server);
  INFO(identities.dump());
  REQUIRE(identities["observations"].size() == 1);
  CHECK(identities["observations"][0]["source"]["identity"] ==
        "spiffe://cluster.local/ns/foo/sa/curl");
  CHECK(identities["observations"][0]["count"] == 5);
  // Still one connection after all streams ended: the next one needs no handshake.
  CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "later") == "laterEOF:5");
  CHECK(establishedOnLocalPort(chain.server.inbound()) == 1);
}

TEST_CASE("a burst of connections to a new destination waits for one handshake", "[proxy][mux]") {
  quietLogs();
  OutboundChain chain;
  std::vector<int> burst;
  for (int i = 0; i < 16; ++i) {
    const int fd = testing::connectTcp("127.0.0.1", chain.client.outbound());
    REQUIRE(fd >= 0);
    REQUIRE(testing::sendAll(fd, "burst"));
    burst.push_back(fd);
  }
  for (int fd : burst) CHECK(testing::readExactly(fd, 5) == "burst");
  CHECK(establishedOnLocalPort(chain.server.inbound()) == 1);
  for (int fd : burst) ::close(fd);
}

TEST_CASE(
    "after a certificate reload new connections get a new shared connection; the old one "
    "ends with its last stream",
    "[proxy][mux]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy server(serverOptions(files.dir.path(), {app.port()}, "127.0.0.2"));
  testing::TempDir certs("peergate-mux-rotating");
  for (const char* name : {"cert.pem", "key.pem", "ca.pem"}) {
    fs::copy_file(identityDir("curl") / name, certs.path() / name);
  }
  ProxyOptions options =
      OutboundChain::clientOptions(files.dir.path(), "127.0.0.2", server.inbound());
  options.certs_dir = certs.path().string();
  options.reload_interval = 100ms;
  RunningProxy client(std::move(options));

  const int held = testing::connectTcp("127.0.0.1", client.outbound());
  REQUIRE(held >= 0);
  REQUIRE(testing::sendAll(held, "one"));
  CHECK(testing::readExactly(held, 3) == "one");
  CHECK(establishedOnLocalPort(server.inbound()) == 1);

  // A new certificate from the same root (here another identity, so the server can tell which
  // connection a stream rode).
  rotateIdentity(certs.path(), "httpbin");
  CHECK(eventually([&] {
    return exchangePlain("127.0.0.1", client.outbound(), "new") == "newEOF:3" &&
           establishedOnLocalPort(server.inbound()) == 2;
  }));
  // The stream opened before the reload goes on over the old connection, which then closes.
  REQUIRE(testing::sendAll(held, "two"));
  CHECK(testing::readExactly(held, 3) == "two");
  ::shutdown(held, SHUT_WR);
  CHECK(testing::readToEnd(held) == "EOF:6");
  ::close(held);
  CHECK(eventually([&] { return establishedOnLocalPort(server.inbound()) == 1; }));
  const nlohmann::json identities = identitiesOf(server);
  INFO(identities.dump());
  std::set<std::string> seen;
  for (const auto& entry : identities["observations"]) {
    seen.insert(entry["source"]["identity"].get<std::string>());
  }
  CHECK(seen == std::set<std::string>{"spiffe://cluster.local/ns/foo/sa/curl",
                                      "spiffe://cluster.local/ns/foo/sa/httpbin"});
}

TEST_CASE("a stream whose reader stalls does not hold up the other streams", "[proxy][mux]") {
  quietLogs();
  OutboundChain chain;
  CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "warm") == "warmEOF:4");
  // The echo comes back to a client that never reads it: the app's replies pile up until the
  // stream's credit is spent, and the writer blocks.
  const int stalled = testing::connectTcp("127.0.0.1", chain.client.outbound());
  REQUIRE(stalled >= 0);
  const int flags = ::fcntl(stalled, F_GETFL);
  REQUIRE(::fcntl(stalled, F_SETFL, flags | O_NONBLOCK) == 0);
  const std::string chunk(1 << 16, 's');
  std::size_t sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int refused_in_a_row = 0;
  while (std::chrono::steady_clock::now() < deadline && refused_in_a_row < 20) {
    const ssize_t wrote = ::send(stalled, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (wrote > 0) {
      sent += static_cast<std::size_t>(wrote);
      refused_in_a_row = 0;
    } else {
      ++refused_in_a_row;
      std::this_thread::sleep_for(10ms);
    }
  }
  INFO("sent before blocking: " << sent);
  CHECK(refused_in_a_row >= 20);  // it did block
  CHECK(sent < std::size_t{64} << 20);
  // Meanwhile other connections through the same pair go on.
  for (int i = 0; i < 3; ++i) {
    CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "other") == "otherEOF:5");
  }
  CHECK(establishedOnLocalPort(chain.server.inbound()) == 1);
  ::close(stalled);
}

TEST_CASE("a port switched to DISABLE refuses new streams of a mux connection", "[proxy][mux]") {
  quietLogs();
  OutboundChain chain;
  CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "strict") == "strictEOF:6");
  chain.files.setPolicy(testing::httpbinPolicyYaml("DISABLE"));
  CHECK(eventually([&] {
    return exchangePlain("127.0.0.1", chain.client.outbound(), "x").empty() &&
           chain.server.stats.handshakeFailures(Direction::Inbound, "mtls_on_disabled_port") > 0;
  }));
}

// A mux frame as a peer proxy writes it (proxy/src/mux_connection.h).
std::string muxFrame(int type, std::uint32_t id, const std::string& payload = "") {
  std::string frame(9, '\0');
  frame[0] = static_cast<char>(type);
  for (int i = 0; i < 4; ++i) {
    frame[1 + i] = static_cast<char>(id >> (24 - 8 * i));
    frame[5 + i] = static_cast<char>(payload.size() >> (24 - 8 * i));
  }
  return frame + payload;
}

struct MuxFrame {
  int type = 0;
  std::uint32_t id = 0;
  std::string payload;
};

std::vector<MuxFrame> muxFrames(const std::string& bytes) {
  std::vector<MuxFrame> frames;
  std::size_t at = 0;
  auto u32 = [&](std::size_t from) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[from + i]);
    return value;
  };
  while (bytes.size() - at >= 9) {
    const std::uint32_t size = u32(at + 5);
    if (bytes.size() - at - 9 < size) break;
    frames.push_back(
        {static_cast<unsigned char>(bytes[at]), u32(at + 1), bytes.substr(at + 9, size)});
    at += 9 + size;
  }
  return frames;
}

TEST_CASE("the mux protocol on the wire: streams, half-close, and a peer's garbage",
          "[proxy][mux]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));
  constexpr int kOpen = 1, kData = 2, kFin = 3, kReset = 4;

  SECTION("two streams, each half-closed, each answered on its own id") {
    const testing::TlsExchange exchange =
        exchangeTls(proxy.inbound(), meshClient("curl", {"peergate-mux/1", "peergate"}),
                    muxFrame(kOpen, 1) + muxFrame(kOpen, 2) + muxFrame(kData, 2, "two") +
                        muxFrame(kData, 1, "one") + muxFrame(kFin, 1) + muxFrame(kFin, 2));
    CHECK(exchange.alpn == "peergate-mux/1");
    std::map<std::uint32_t, std::string> data;
    std::set<std::uint32_t> finished;
    for (const MuxFrame& frame : muxFrames(exchange.received)) {
      if (frame.type == kData) data[frame.id] += frame.payload;
      if (frame.type == kFin) finished.insert(frame.id);
      CHECK(frame.type != kReset);
    }
    CHECK(data[1] == "oneEOF:3");
    CHECK(data[2] == "twoEOF:3");
    CHECK(finished == std::set<std::uint32_t>{1, 2});
    CHECK(eventually([&] {
      return proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 2;
    }));
  }
  SECTION("a frame of an unknown type, an oversized frame or a reused id closes the connection") {
    const std::string garbage = GENERATE(
        muxFrame(9, 1), muxFrame(kData, 1).substr(0, 5) + std::string("\x00\x01\x00\x00", 4),
        muxFrame(kOpen, 3) + muxFrame(kOpen, 3) + muxFrame(kData, 3, "late"));
    const testing::TlsExchange exchange =
        exchangeTls(proxy.inbound(), meshClient("curl", {"peergate-mux/1"}), garbage);
    CHECK(exchange.handshake);
    for (const MuxFrame& frame : muxFrames(exchange.received)) CHECK(frame.payload != "lateEOF:4");
    // The proxy goes on serving.
    CHECK(exchangeTls(proxy.inbound(), identityDir("curl"), "after").received == "afterEOF:5");
  }
}

// A peer proxy that selects the mux protocol and notes the plaintext size of every TLS record it
// reads (SSL_read returns one record at a time), until `want` payload bytes of Data arrived.
struct RecordingMuxPeer {
  std::size_t want;
  std::string alpn = testing::alpnWire({std::string(kMuxAlpn)});
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  uint16_t port = 0;
  int listener = testing::listenTcp("127.0.0.2", port);
  std::vector<std::size_t> records;
  std::string bytes;
  std::thread thread;

  explicit RecordingMuxPeer(std::size_t want_bytes) : want(want_bytes) {
    testing::useIdentity(ctx, identityDir("httpbin"));
    SSL_CTX_set_alpn_select_cb(ctx, &selectPreferredAlpn, &alpn);
    thread = std::thread([this] { serve(); });
  }
  ~RecordingMuxPeer() {
    ::shutdown(listener, SHUT_RDWR);
    if (thread.joinable()) thread.join();
    ::close(listener);
    SSL_CTX_free(ctx);
  }

  void serve() {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    const timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    std::size_t data_bytes = 0;
    if (SSL_accept(ssl) == 1) {
      std::vector<char> buffer(64 * 1024);
      while (data_bytes < want) {
        const int n = SSL_read(ssl, buffer.data(), static_cast<int>(buffer.size()));
        if (n <= 0) break;
        records.push_back(static_cast<std::size_t>(n));
        bytes.append(buffer.data(), static_cast<std::size_t>(n));
        data_bytes = 0;
        for (const MuxFrame& frame : muxFrames(bytes)) data_bytes += frame.payload.size();
      }
    }
    SSL_free(ssl);
    ::close(fd);
  }
};

TEST_CASE("a bulk transfer leaves in data frames that each fill one TLS record", "[proxy][mux]") {
  quietLogs();
  constexpr std::size_t kBytes = 512 * 1024;  // within one stream's window: no credit needed
  RecordingMuxPeer peer(kBytes);
  ClusterFiles files(peer.port, testing::httpbinPolicyYaml("STRICT"));
  RunningProxy client(OutboundChain::clientOptions(files.dir.path(), "127.0.0.2", peer.port));
  const int fd = testing::connectTcp("127.0.0.1", client.outbound());
  REQUIRE(fd >= 0);
  REQUIRE(testing::sendAll(fd, std::string(kBytes, 'x')));
  peer.thread.join();
  ::close(fd);
  std::size_t data_bytes = 0;
  std::size_t largest_frame = 0;
  for (const MuxFrame& frame : muxFrames(peer.bytes)) {
    data_bytes += frame.payload.size();
    largest_frame = std::max(largest_frame, frame.payload.size());
  }
  REQUIRE(data_bytes == kBytes);
  // The relay reads up to four frames' worth of the app at a time and splits it.
  CHECK(largest_frame == 16375);
  // A 16 KiB payload plus its 9-byte header fills a record and spills 9 bytes into the next,
  // one more for each frame sent together (records of 18, 27, 36... bytes, 4 or 5 in this
  // transfer). Frames of 16,375 bytes fill records exactly: the one short record left is the Open
  // frame's 9 bytes ahead of the first Data frame, plus at most one from a short read of the app.
  std::size_t tiny = 0;
  std::string sizes;
  for (std::size_t size : peer.records) {
    tiny += size < 1024 ? 1 : 0;
    sizes += std::to_string(size) + " ";
  }
  INFO("record sizes: " << sizes);
  CHECK(tiny <= 2);
  CHECK(peer.records.size() <= kBytes / 16375 + 8);
}

// curl's proxy → httpbin's PERMISSIVE port: the outbound side's ALPN is what makes it mTLS.
struct PermissiveChain {
  const bool multiplex;
  EchoApp app;
  ClusterFiles files{app.port(), testing::httpbinPolicyYaml("PERMISSIVE")};
  RunningProxy server{serverOptions(files.dir.path(), {app.port()}, "127.0.0.2")};
  RunningProxy client{
      OutboundChain::clientOptions(files.dir.path(), "127.0.0.2", server.inbound(), multiplex)};

  explicit PermissiveChain(testing::AppTls tls = testing::AppTls::None,
                           bool multiplex_streams = true)
      : multiplex(multiplex_streams), app("", tls) {}
};

TEST_CASE("a mesh client reaching a PERMISSIVE port is terminated as mTLS, sessions resumed",
          "[proxy][alpn]") {
  quietLogs();
  PermissiveChain chain(testing::AppTls::None, /*multiplex=*/false);
  for (int i = 0; i < 3; ++i) {
    CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "via mesh") == "via meshEOF:8");
  }
  CHECK(eventually([&] {
    return chain.server.stats.connections(Direction::Inbound, chain.app.port(), "mtls",
                                          "forwarded") == 3;
  }));
  CHECK(chain.server.stats.connections(Direction::Inbound, chain.app.port(), "tls_passthrough",
                                       "forwarded") == 0);
  // A resumed ClientHello (a pre_shared_key extension) still carries the ALPN.
  CHECK(chain.client.stats.tlsResumptions(Direction::Outbound) == 2);
  CHECK(chain.server.stats.tlsResumptions(Direction::Inbound) == 2);
  const nlohmann::json identities = identitiesOf(chain.server);
  INFO(identities.dump());
  REQUIRE(identities["observations"].size() == 1);
  CHECK(identities["observations"][0]["security"] == "mtls");
  CHECK(identities["observations"][0]["source"]["identity"] ==
        "spiffe://cluster.local/ns/foo/sa/curl");
}

TEST_CASE("an app's own TLS inside mesh mTLS negotiates its ALPN with the app end to end",
          "[proxy][alpn]") {
  quietLogs();
  PermissiveChain chain(testing::AppTls::Own);
  const testing::TlsExchange exchange =
      exchangeTls(chain.client.outbound(), appClient({"h2", "http/1.1"}), "hello");
  CHECK(exchange.handshake);
  CHECK(exchange.server_serial == kAppSerial);
  CHECK(exchange.alpn == "h2");
  CHECK(exchange.received == "helloEOF:5");
  CHECK(chain.app.tlsHandshakes() == 1);
  // Between the proxies it was mesh mTLS, from curl's identity.
  CHECK(eventually([&] {
    return chain.server.stats.connections(Direction::Inbound, chain.app.port(), "mtls",
                                          "forwarded") == 1 &&
           chain.client.stats.connections(Direction::Outbound, chain.server.inbound(), "mtls",
                                          "forwarded") == 1;
  }));
  const nlohmann::json identities = identitiesOf(chain.server);
  INFO(identities.dump());
  REQUIRE(identities["observations"].size() == 1);
  CHECK(identities["observations"][0]["source"]["identity"] ==
        "spiffe://cluster.local/ns/foo/sa/curl");
}

TEST_CASE("outbound refuses a server whose SPIFFE ID is not the destination's (secure naming)",
          "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  // 127.0.0.3 is pod foo/other (sa other), but this server presents foo/httpbin.
  RunningProxy impostor(serverOptions(files.dir.path(), {app.port()}, "127.0.0.3"));
  RunningProxy client(
      OutboundChain::clientOptions(files.dir.path(), "127.0.0.3", impostor.inbound()));

  CHECK(exchangePlain("127.0.0.1", client.outbound(), "secret").empty());
  CHECK(eventually([&] {
    return client.stats.handshakeFailures(Direction::Outbound, "identity_mismatch") == 1;
  }));
  CHECK(client.stats.connections(Direction::Outbound, impostor.inbound(), "mtls", "rejected") == 1);
  CHECK(app.connections() == 0);
}

TEST_CASE("outbound passes plaintext to destinations without a proxy", "[proxy]") {
  quietLogs();
  EchoApp app;  // on 127.0.0.1, which no pod in the state has
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy client(OutboundChain::clientOptions(files.dir.path(), "127.0.0.1", app.port()));

  CHECK(exchangePlain("127.0.0.1", client.outbound(), "legacy") == "legacyEOF:6");
  CHECK(eventually([&] {
    return client.stats.connections(Direction::Outbound, app.port(), "plaintext", "forwarded") == 1;
  }));
}

TEST_CASE("a policy change flips PERMISSIVE to STRICT for new connections without a restart",
          "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  // Opened under PERMISSIVE: keeps working after the change.
  const int open = testing::connectTcp("127.0.0.1", proxy.inbound());
  REQUIRE(open >= 0);
  REQUIRE(testing::sendAll(open, "before"));
  CHECK(testing::readExactly(open, 6) == "before");

  files.setPolicy(testing::httpbinPolicyYaml("STRICT"));
  const auto changed = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return exchangePlain("127.0.0.1", proxy.inbound(), "x").empty(); }, 3s));
  CHECK(std::chrono::steady_clock::now() - changed < 2500ms);
  CHECK(exchangeTls(proxy.inbound(), identityDir("curl"), "m").received == "mEOF:1");

  REQUIRE(testing::sendAll(open, "after"));
  CHECK(testing::readExactly(open, 5) == "after");
  ::close(open);
}

TEST_CASE("a rotated certificate serves new connections", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  testing::TempDir certs("peergate-proxy-rotating");
  for (const char* name : {"cert.pem", "key.pem", "ca.pem"}) {
    fs::copy_file(identityDir("httpbin") / name, certs.path() / name);
  }
  ProxyOptions options = serverOptions(files.dir.path(), {app.port()});
  options.certs_dir = certs.path().string();
  options.reload_interval = 100ms;
  RunningProxy proxy(std::move(options));
  CHECK(exchangeTls(proxy.inbound(), identityDir("curl"), "a").server_serial == 0x3001);

  rotateIdentity(certs.path(), "httpbin2");
  CHECK(eventually(
      [&] {
        return exchangeTls(proxy.inbound(), identityDir("curl"), "b").server_serial == 0x3002;
      },
      3s));
}

TEST_CASE("metrics and /identities report what the proxy saw", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));
  AdminServer admin(proxy.server, proxy.stats);
  std::string error;
  REQUIRE(admin.start("127.0.0.1", 0, error));

  REQUIRE(exchangePlain("127.0.0.1", proxy.inbound(), "p") == "pEOF:1");
  REQUIRE(exchangeTls(proxy.inbound(), meshClient("curl"), "m").received == "mEOF:1");
  REQUIRE(exchangeTls(proxy.inbound(), meshClient("curl"), "m").received == "mEOF:1");
  exchangeTls(proxy.inbound(), meshClient("wrong-td"), "w");

  httplib::Client http("127.0.0.1", admin.port());
  http.set_read_timeout(5, 0);
  auto ready = http.Get("/healthz/ready");
  REQUIRE(ready);
  CHECK(ready->status == 200);

  const std::string port = std::to_string(app.port());
  CHECK(eventually([&] {
    auto metrics = http.Get("/metrics");
    return metrics &&
           metrics->body.find(
               "peergate_proxy_connections_total{direction=\"inbound\","
               "port=\"" +
               port + "\",security=\"mtls\",outcome=\"forwarded\"} 2") != std::string::npos;
  }));
  const std::string metrics = http.Get("/metrics")->body;
  CHECK(metrics.find("peergate_proxy_connections_total{direction=\"inbound\",port=\"" + port +
                     "\",security=\"plaintext\",outcome=\"forwarded\"} 1") != std::string::npos);
  CHECK(metrics.find("peergate_proxy_handshake_failures_total{direction=\"inbound\","
                     "reason=\"wrong_trust_domain\"} 1") != std::string::npos);
  CHECK(metrics.find("peergate_proxy_bytes_total{direction=\"inbound\"}") != std::string::npos);
  CHECK(metrics.find("peergate_proxy_active_connections ") != std::string::npos);
  CHECK(metrics.find("peergate_proxy_cert_expiry_timestamp_seconds 1") != std::string::npos);

  auto identities = http.Get("/identities");
  REQUIRE(identities);
  const auto observations = validation::decodeObservations(identities->body, "identities.json");
  INFO(identities->body);
  REQUIRE(observations.ok());
  REQUIRE(observations.value().entries.size() == 2);
  for (const validation::Observation& entry : observations.value().entries) {
    CHECK(entry.namespace_name == "foo");
    CHECK(entry.pod == "httpbin");
    CHECK(entry.port == app.port());
    CHECK(entry.source_ip == "127.0.0.1");
    if (entry.security == "mtls") {
      CHECK(entry.source_identity == "spiffe://cluster.local/ns/foo/sa/curl");
      CHECK(entry.count == 2);
    } else {
      CHECK(entry.security == "plaintext");
      CHECK(entry.source_identity.empty());
      CHECK(entry.count == 1);
    }
  }
  admin.stop();
}

TEST_CASE("PERMISSIVE passes a client's own TLS through to an app that serves TLS itself",
          "[proxy][alpn]") {
  quietLogs();
  const auto [name, offered, selected, certs] =
      GENERATE(table<std::string, std::vector<std::string>, std::string, std::string>({
          {"HTTP/2 client", {"h2", "http/1.1"}, "h2", ""},
          {"HTTP/1.1 client", {"http/1.1"}, "http/1.1", ""},
          {"no ALPN at all", {}, "", ""},
          // A mesh certificate does not make it mesh mTLS: without the mesh ALPN it is the
          // client's TLS with the app (which asks for no client certificate).
          {"a client that holds a mesh certificate", {"h2"}, "h2", "curl"},
      }));
  CAPTURE(name);
  EchoApp app(testing::AppTls::Own);
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));
  AdminServer admin(proxy.server, proxy.stats);
  std::string error;
  REQUIRE(admin.start("127.0.0.1", 0, error));

  testing::TlsClientOptions client = appClient(offered);
  if (!certs.empty()) client.certs = identityDir(certs);
  const testing::TlsExchange exchange = exchangeTls(proxy.inbound(), client, "hello");
  // The handshake was with the app: its certificate (verified against its CA, for its name)
  // and its ALPN choice, end to end through the proxy.
  CHECK(exchange.handshake);
  CHECK(exchange.server_serial == kAppSerial);
  CHECK(exchange.server_id.empty());
  CHECK(exchange.alpn == selected);
  CHECK(exchange.received == "helloEOF:5");
  CHECK(app.tlsHandshakes() == 1);

  // Not a mesh peer: counted and observed as `tls_passthrough`, by source IP, never as mTLS.
  const std::string port = std::to_string(app.port());
  httplib::Client http("127.0.0.1", admin.port());
  http.set_read_timeout(5, 0);
  CHECK(eventually([&] {
    auto metrics = http.Get("/metrics");
    return metrics && metrics->body.find(
                          "peergate_proxy_connections_total{direction=\"inbound\","
                          "port=\"" +
                          port +
                          "\",security=\"tls_passthrough\",outcome=\"forwarded\"} "
                          "1") != std::string::npos;
  }));
  CHECK(proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 0);
  CHECK(proxy.stats.handshakeFailures(Direction::Inbound, "no_client_cert") == 0);
  auto identities = http.Get("/identities");
  REQUIRE(identities);
  INFO(identities->body);
  const auto observations = validation::decodeObservations(identities->body, "identities.json");
  REQUIRE(observations.ok());
  REQUIRE(observations.value().entries.size() == 1);
  const validation::Observation& entry = observations.value().entries[0];
  CHECK(entry.security == "tls_passthrough");
  CHECK(entry.source_ip == "127.0.0.1");
  CHECK(entry.source_identity.empty());
  CHECK(entry.port == app.port());
  CHECK(entry.count == 1);
  admin.stop();
}

TEST_CASE("a ClientHello that offers a mesh ALPN gets mTLS, and the proxy selects the mesh value",
          "[proxy][alpn]") {
  quietLogs();
  const auto [offered, selected] = GENERATE(table<std::vector<std::string>, std::string>({
      {{"peergate", "istio"}, "peergate"},
      {{"istio"}, "istio"},
      {{"istio-peer-exchange", "istio"}, "istio"},
      {{"h2", "istio-http/1.1"}, "istio-http/1.1"},
      {{"istio-h2"}, "istio-h2"},
      // Mesh mTLS, but the proxy does not speak Istio's metadata exchange: nothing selected.
      {{"istio-peer-exchange"}, ""},
  }));
  CAPTURE(offered);
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  const testing::TlsExchange exchange =
      exchangeTls(proxy.inbound(), meshClient("curl", offered), "m");
  CHECK(exchange.handshake);
  CHECK(exchange.server_id == "spiffe://cluster.local/ns/foo/sa/httpbin");
  CHECK(exchange.alpn == selected);
  CHECK(exchange.received == "mEOF:1");
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 1;
  }));
  const nlohmann::json identities = identitiesOf(proxy);
  INFO(identities.dump());
  REQUIRE(identities["observations"].size() == 1);
  CHECK(identities["observations"][0]["source"]["identity"] ==
        "spiffe://cluster.local/ns/foo/sa/curl");
}

TEST_CASE("a ClientHello in two TCP segments is read whole before the proxy decides",
          "[proxy][alpn]") {
  quietLogs();
  EchoApp mesh_app;
  EchoApp tls_app(testing::AppTls::Own);
  ClusterFiles files(mesh_app.port(),
                     testing::httpbinPolicyYaml("PERMISSIVE", {{tls_app.port(), "PERMISSIVE"}}));
  RunningProxy proxy(serverOptions(files.dir.path(), {mesh_app.port(), tls_app.port()}));

  testing::TlsClientOptions mesh = meshClient("curl");
  mesh.hello_pause = 50ms;
  const testing::TlsExchange terminated = exchangeTls(proxy.inbound(0), mesh, "m");
  CHECK(terminated.alpn == "peergate");
  CHECK(terminated.received == "mEOF:1");

  testing::TlsClientOptions own = appClient({"h2"});
  own.hello_pause = 50ms;
  const testing::TlsExchange passed = exchangeTls(proxy.inbound(1), own, "t");
  CHECK(passed.server_serial == kAppSerial);
  CHECK(passed.alpn == "h2");
  CHECK(passed.received == "tEOF:1");
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, mesh_app.port(), "mtls", "forwarded") == 1 &&
           proxy.stats.connections(Direction::Inbound, tls_app.port(), "tls_passthrough",
                                   "forwarded") == 1;
  }));
}

TEST_CASE("PERMISSIVE passes a TLS record cut short by the sniff timeout through to the app",
          "[proxy][alpn]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));  // sniff timeout 200 ms

  const int fd = testing::connectTcp("127.0.0.1", proxy.inbound());
  REQUIRE(fd >= 0);
  const std::string header("\x16\x03\x01\x02\x00", 5);  // a 512-byte record that never comes
  REQUIRE(testing::sendAll(fd, header));
  const auto started = std::chrono::steady_clock::now();
  CHECK(testing::readExactly(fd, 5) == header);
  CHECK(std::chrono::steady_clock::now() - started >= 150ms);
  ::close(fd);
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "tls_passthrough",
                                   "forwarded") == 1;
  }));
}

TEST_CASE("STRICT terminates every TLS connection whatever its ALPN", "[proxy][alpn]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));

  // A mesh certificate is what STRICT asks for; the ALPN is not (none selected unless mesh).
  CHECK(exchangeTls(proxy.inbound(), meshClient("curl", {}), "a").received == "aEOF:1");
  const testing::TlsExchange h2 = exchangeTls(proxy.inbound(), meshClient("curl", {"h2"}), "b");
  CHECK(h2.received == "bEOF:1");
  CHECK(h2.alpn.empty());
  const testing::TlsExchange mesh = exchangeTls(proxy.inbound(), meshClient("curl"), "c");
  CHECK(mesh.received == "cEOF:1");
  CHECK(mesh.alpn == "peergate");
  // A client speaking its own TLS to the app is terminated here too, and refused: STRICT has
  // nothing else to accept.
  const testing::TlsExchange own = exchangeTls(proxy.inbound(), appClient({"h2"}), "d");
  CHECK_FALSE(own.handshake);
  CHECK(own.received.empty());
  CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "e").empty());
  CHECK(eventually([&] {
    return proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "forwarded") == 3 &&
           proxy.stats.connections(Direction::Inbound, app.port(), "mtls", "rejected") == 1 &&
           proxy.stats.connections(Direction::Inbound, app.port(), "plaintext", "rejected") == 1;
  }));
  CHECK(proxy.stats.connections(Direction::Inbound, app.port(), "tls_passthrough", "forwarded") ==
        0);
  CHECK(app.connections() == 3);
}

TEST_CASE("half-close: a client that ends its stream still gets the reply", "[proxy]") {
  quietLogs();
  SECTION("plaintext through an inbound PERMISSIVE port") {
    EchoApp app;
    ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
    RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));
    // The app answers "EOF:n" only after it saw our FIN through the proxy.
    CHECK(exchangePlain("127.0.0.1", proxy.inbound(), "ping") == "pingEOF:4");
  }
  SECTION("through mTLS between two proxies (close_notify carries the FIN)") {
    OutboundChain chain;
    CHECK(exchangePlain("127.0.0.1", chain.client.outbound(), "ping") == "pingEOF:4");
  }
}

TEST_CASE("a 64 MiB transfer through two proxies keeps memory bounded", "[proxy]") {
  quietLogs();
  OutboundChain chain;
  constexpr std::size_t kTotal = std::size_t{64} << 20;
  const std::size_t rss_before = testing::residentBytes();
  const int fd = testing::connectTcp("127.0.0.1", chain.client.outbound());
  REQUIRE(fd >= 0);
  std::size_t peak_rss = rss_before;
  std::thread writer([fd] {
    const std::string chunk(1 << 16, 'x');
    for (std::size_t sent = 0; sent < kTotal; sent += chunk.size()) {
      if (!testing::sendAll(fd, chunk)) return;
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::size_t received = 0;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    received += static_cast<std::size_t>(got);
    if ((received & ((std::size_t{1} << 22) - 1)) < sizeof buffer) {
      peak_rss = std::max(peak_rss, testing::residentBytes());
    }
  }
  writer.join();
  ::close(fd);
  const std::string trailer = "EOF:" + std::to_string(kTotal);
  CHECK(received == kTotal + trailer.size());
  // Fixed 16 KiB buffers per direction: the proxies hold nothing like the 64 MiB in flight.
  if (!PEERGATE_TEST_SANITIZED) CHECK(peak_rss - rss_before < std::size_t{24} << 20);
  CHECK(chain.client.stats.active() <= 1);
}

// While the client does not read, the writes on the way back find full sockets: the relays fall
// back from writing at once to waiting for room (plain, TLS and mux writes), and a TLS write
// retried after would-block must offer the same bytes again.
TEST_CASE("a transfer that fills every socket on the way arrives byte for byte", "[proxy]") {
  quietLogs();
  const bool multiplex = GENERATE(true, false);
  INFO("multiplex " << multiplex);
  OutboundChain chain(multiplex);
  constexpr std::size_t kTotal = std::size_t{24} << 20;
  auto pattern = [](std::size_t at) { return static_cast<char>((at * 7 + (at >> 13)) & 0xff); };
  const int fd = testing::connectTcp("127.0.0.1", chain.client.outbound(), 16 << 10);
  REQUIRE(fd >= 0);
  std::thread writer([fd, &pattern] {
    std::string chunk(std::size_t{1} << 16, '\0');
    for (std::size_t sent = 0; sent < kTotal; sent += chunk.size()) {
      for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = pattern(sent + i);
      if (!testing::sendAll(fd, chunk)) return;
    }
    ::shutdown(fd, SHUT_WR);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string trailer = "EOF:" + std::to_string(kTotal);
  const std::string received = testing::readExactly(fd, kTotal + trailer.size());
  writer.join();
  ::close(fd);
  REQUIRE(received.size() == kTotal + trailer.size());
  std::size_t first_wrong = kTotal;
  for (std::size_t at = 0; at < kTotal && first_wrong == kTotal; ++at) {
    if (received[at] != pattern(at)) first_wrong = at;
  }
  CHECK(first_wrong == kTotal);
  CHECK(received.substr(kTotal) == trailer);
}

TEST_CASE("timeouts close stalled handshakes and idle connections; the limit caps connections",
          "[proxy]") {
  quietLogs();
  EchoApp app;
  EchoApp open_app;
  ClusterFiles files(app.port(),
                     testing::httpbinPolicyYaml("STRICT", {{open_app.port(), "PERMISSIVE"}}));
  ProxyOptions options = serverOptions(files.dir.path(), {app.port(), open_app.port()});
  options.limits.handshake_timeout = 300ms;
  options.limits.idle_timeout = 300ms;
  options.limits.max_connections = 2;
  RunningProxy proxy(std::move(options));

  SECTION("a TLS record header and then silence") {
    const int fd = testing::connectTcp("127.0.0.1", proxy.inbound());
    REQUIRE(fd >= 0);
    REQUIRE(testing::sendAll(fd, std::string("\x16\x03\x01", 3)));
    const auto started = std::chrono::steady_clock::now();
    CHECK(testing::readToEnd(fd).empty());
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    ::close(fd);
    CHECK(eventually([&] {
      return proxy.stats.handshakeFailures(Direction::Inbound, "handshake_timeout") == 1;
    }));
  }
  SECTION("an established connection without traffic") {
    const int fd = testing::connectTcp("127.0.0.1", proxy.inbound(1));
    REQUIRE(fd >= 0);
    REQUIRE(testing::sendAll(fd, "x"));
    const auto started = std::chrono::steady_clock::now();
    CHECK(testing::readToEnd(fd) == "x");  // then the proxy closes it
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    ::close(fd);
  }
  SECTION("connections beyond max_connections are closed at accept") {
    const int first = testing::connectTcp("127.0.0.1", proxy.inbound(1));
    const int second = testing::connectTcp("127.0.0.1", proxy.inbound(1));
    REQUIRE(eventually([&] { return proxy.stats.active() == 2; }));
    CHECK(exchangePlain("127.0.0.1", proxy.inbound(1), "third").empty());
    CHECK(eventually(
        [&] { return proxy.stats.connections(Direction::Inbound, 0, "unknown", "limit") == 1; }));
    ::close(first);
    ::close(second);
  }
}

TEST_CASE("drain waits for open connections and reports the ones still open", "[proxy]") {
  quietLogs();
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("PERMISSIVE"));
  RunningProxy proxy(serverOptions(files.dir.path(), {app.port()}));
  const int fd = testing::connectTcp("127.0.0.1", proxy.inbound());
  REQUIRE(fd >= 0);
  REQUIRE(testing::sendAll(fd, "x"));
  REQUIRE(testing::readExactly(fd, 1) == "x");

  CHECK_FALSE(proxy.server.drain(100ms));  // the connection is still open
  CHECK_FALSE(proxy.server.ready());
  CHECK(testing::connectTcp("127.0.0.1", proxy.inbound()) < 0);  // no longer accepting
  std::thread closer([fd] {
    std::this_thread::sleep_for(50ms);
    ::shutdown(fd, SHUT_WR);
    testing::readToEnd(fd);
    ::close(fd);
  });
  CHECK(proxy.server.drain(3s));
  closer.join();
}

TEST_CASE("peergate proxy exits 0 on SIGTERM", "[proxy]") {
  EchoApp app;
  ClusterFiles files(app.port(), testing::httpbinPolicyYaml("STRICT"));
  const fs::path log = files.dir.path() / "proxy.log";
  const std::string inbound_map = "0=" + std::to_string(app.port());
  const std::string state = files.dir.path().string();
  const std::string certs = identityDir("httpbin").string();
  std::vector<std::string> args = {PEERGATE_BINARY,   "proxy",     "--pod",           "foo/httpbin",
                                   "--cluster-state", state,       "--certs",         certs,
                                   "--inbound-port",  "0",         "--outbound-port", "0",
                                   "--admin-port",    "0",         "--bind-address",  "127.0.0.1",
                                   "--inbound-map",   inbound_map, "--log-format",    "text"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, PEERGATE_BINARY, &actions, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&actions);

  const auto logged = [&](const std::string& text) {
    std::ifstream file(log);
    std::stringstream content;
    content << file.rdbuf();
    return content.str().find(text) != std::string::npos;
  };
  CHECK(eventually([&] { return logged("proxy listening"); }, 10s));
  ::kill(pid, SIGTERM);
  int status = -1;
  const bool exited = eventually([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  CHECK(exited);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(logged("proxy stopped"));
}

}  // namespace
}  // namespace peergate::proxy
