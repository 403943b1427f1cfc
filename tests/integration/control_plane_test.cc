// The control plane over real HTTPS on loopback: the webhook process's CA and policy feed
// (ControlPlaneServer), and the proxy's control-plane mode (ControlPlaneClient) talking to it.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <httplib.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../support/fake_apiserver.h"
#include "../support/proxy_harness.h"
#include "peergate/identity/ca.h"
#include "peergate/identity/certificate.h"
#include "peergate/identity/csr.h"
#include "peergate/identity/issuer.h"
#include "peergate/identity/keys.h"
#include "peergate/identity/spiffe.h"
#include "peergate/proxy/control_plane_client.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/control_plane.h"

namespace peergate::webhook {
namespace {

namespace fs = std::filesystem;
namespace id = peergate::identity;
using nlohmann::json;
using testing::TempDir;
using namespace std::chrono_literals;
using validation::Mode;

constexpr const char* kTokens =
    "tok-httpbin,system:serviceaccount:foo:httpbin,1\n"
    "tok-curl,system:serviceaccount:foo:curl,2\n"
    "tok-alice,alice,3\n";

void writeText(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A root written as `peergate certs ca` does, into `dir`.
id::CertificateAuthority writeCa(const fs::path& dir) {
  fs::create_directories(dir);
  id::CertificateAuthority ca = id::createRootCa({}, id::Clock::now()).value();
  testing::writeFileAtomically(dir / id::kCaCertFile, id::certificatePem(ca.cert.get()).value());
  testing::writeFileAtomically(dir / id::kCaKeyFile, id::privateKeyPem(ca.key.get()).value());
  return ca;
}

bool signedBy(const std::string& cert_pem, const id::CertificateAuthority& ca) {
  id::CertPtr cert = id::parseCertificatePem(cert_pem).value();
  return X509_verify(cert.get(), X509_get0_pubkey(ca.cert.get())) == 1;
}

std::string csrFor(const std::string& ns, const std::string& sa) {
  id::KeyPtr key = id::generateKey(id::KeyType::EcdsaP256).value();
  id::CsrPtr csr = id::makeWorkloadCsr(key.get(), {"cluster.local", ns, sa}).value();
  return id::csrPem(csr.get()).value();
}

std::string stateYaml(const std::string& httpbin_mode) {
  return testing::meshPodsYaml(8000) + testing::httpbinPolicyYaml(httpbin_mode);
}

// The webhook side: a CA directory, a serving certificate from the same root for 127.0.0.1,
// static tokens, a published cluster state and the server on an ephemeral port.
struct ControlPlane {
  TempDir dir{"peergate-cp"};
  MetricsRegistry registry;
  ServerMetrics metrics{registry};
  ControlPlaneMetrics cp_metrics{registry};
  StateStore store;
  id::CertificateAuthority root = writeCa(dir.path() / "ca");
  std::unique_ptr<CertReloader> serving;
  std::unique_ptr<WorkloadCa> ca;
  std::unique_ptr<StaticTokenAuthenticator> tokens;
  std::unique_ptr<ControlPlaneServer> server;

  explicit ControlPlane(std::chrono::seconds cert_ttl = 24h) {
    spdlog::set_level(spdlog::level::off);
    id::KeyPtr key = id::generateKey(id::KeyType::EcdsaP256).value();
    id::CertPtr cert =
        id::issueServingCert(root, key.get(), {{"localhost"}, {"127.0.0.1"}}, {id::Clock::now()})
            .value();
    writeText(dir.path() / "tls.crt", id::certificatePem(cert.get()).value());
    writeText(dir.path() / "tls.key", id::privateKeyPem(key.get()).value());
    // What verifies the serving certificate stays put when the workload root rotates.
    writeText(dir.path() / "serving-root.pem", id::certificatePem(root.cert.get()).value());
    serving = std::make_unique<CertReloader>(
        CertReloaderOptions{(dir.path() / "tls.crt").string(), (dir.path() / "tls.key").string()},
        metrics);
    std::string error;
    REQUIRE(serving->loadInitial(error));
    ca = std::make_unique<WorkloadCa>(WorkloadCaOptions{(dir.path() / "ca").string(), cert_ttl},
                                      cp_metrics);
    REQUIRE(ca->loadInitial(error));
    tokens = std::move(StaticTokenAuthenticator::parse(kTokens, "tokens.csv")).value();
    publish(stateYaml("STRICT"));
    ControlPlaneOptions options;
    options.bind_address = "127.0.0.1";
    options.port = 0;
    options.max_wait = 10s;
    options.worker_threads = 16;
    options.poll_slice = 50ms;
    server =
        std::make_unique<ControlPlaneServer>(options, *serving, store, *ca, *tokens, cp_metrics);
    REQUIRE(server->start(error));
  }
  ~ControlPlane() { server->shutdown(); }

  static StateStore::Snapshot snapshotOf(const std::string& yaml) {
    validation::Inputs inputs;
    REQUIRE(validation::decodeInto(yaml, "state.yaml", inputs).ok());
    return std::make_shared<const validation::ClusterState>(std::move(inputs));
  }
  void publish(const std::string& yaml) { store.publish(snapshotOf(yaml)); }

  std::string address() const { return "127.0.0.1:" + std::to_string(server->port()); }

  std::unique_ptr<httplib::SSLClient> client() const {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", server->port());
    client->set_ca_cert_path((dir.path() / "serving-root.pem").c_str());
    client->enable_server_certificate_verification(true);
    client->set_read_timeout(20s);
    return client;
  }

  httplib::Result requestCertificate(const std::string& token, const std::string& csr) const {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return client()->Post("/v1/certificates", headers, json{{"csr", csr}}.dump(),
                          "application/json");
  }

  httplib::Result policy(const std::string& token, const std::string& pod,
                         const std::string& version = "", int wait = 0) const {
    std::string path = "/v1/policy?pod=" + pod + "&waitSeconds=" + std::to_string(wait);
    if (!version.empty()) path += "&version=" + version;
    return client()->Get(path, {{"Authorization", "Bearer " + token}});
  }
};

std::string errorCode(const httplib::Result& result) {
  return json::parse(result->body).at("error").at("code").get<std::string>();
}

TEST_CASE("the CA signs a CSR for exactly the identity the token proves", "[control-plane]") {
  ControlPlane cp;
  const httplib::Result issued = cp.requestCertificate("tok-httpbin", csrFor("foo", "httpbin"));
  REQUIRE(issued);
  REQUIRE(issued->status == 200);
  const json body = json::parse(issued->body);
  const std::string leaf = body.at("certificateChain").get<std::string>();
  CHECK(signedBy(leaf, cp.root));
  id::CertPtr cert = id::parseCertificatePem(leaf).value();
  CHECK(id::uriSans(cert.get()) ==
        std::vector<std::string>{"spiffe://cluster.local/ns/foo/sa/httpbin"});
  CHECK(body.at("rootCertificates").get<std::string>() ==
        id::certificatePem(cp.root.cert.get()).value());
  CHECK(cp.cp_metrics.certificates.value({"issued"}) == 1);
}

TEST_CASE("the CA refuses other identities, missing and unknown tokens, and garbage",
          "[control-plane]") {
  ControlPlane cp;
  const httplib::Result impostor = cp.requestCertificate("tok-curl", csrFor("foo", "httpbin"));
  REQUIRE(impostor);
  CHECK(impostor->status == 403);
  CHECK(impostor->body.find("spiffe://cluster.local/ns/foo/sa/curl") != std::string::npos);

  const httplib::Result anonymous = cp.requestCertificate("", csrFor("foo", "httpbin"));
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  CHECK(anonymous->get_header_value("WWW-Authenticate") == "Bearer");
  CHECK(cp.requestCertificate("tok-unknown", csrFor("foo", "httpbin"))->status == 401);
  const httplib::Result human = cp.requestCertificate("tok-alice", csrFor("foo", "httpbin"));
  CHECK(human->status == 401);
  CHECK(human->body.find("not to a service account") != std::string::npos);

  const httplib::Result garbage = cp.requestCertificate("tok-httpbin", "not a CSR");
  REQUIRE(garbage);
  CHECK(garbage->status == 400);
  CHECK(errorCode(garbage) == "csr.parse");
  const httplib::Result huge = cp.requestCertificate("tok-httpbin", std::string(200 * 1024, 'A'));
  REQUIRE(huge);
  CHECK(huge->status == 413);
  CHECK(cp.cp_metrics.certificates.value({"issued"}) == 0);
  CHECK(cp.cp_metrics.certificates.value({"forbidden"}) == 1);
}

TEST_CASE("the policy feed serves a pod's modes only to its own service account",
          "[control-plane]") {
  ControlPlane cp;
  const httplib::Result own = cp.policy("tok-httpbin", "foo/httpbin");
  REQUIRE(own);
  REQUIRE(own->status == 200);
  const auto policy = validation::dataplanePolicyFromJson(json::parse(own->body));
  REQUIRE(policy.ok());
  CHECK(policy.value().modeForPort(8000) == Mode::Strict);
  REQUIRE(policy.value().peerFor("127.0.0.4") != nullptr);
  CHECK(policy.value().peerFor("127.0.0.4")->spiffe_id == "spiffe://cluster.local/ns/foo/sa/curl");
  CHECK(policy.value().peerFor("127.0.0.5") == nullptr);

  const httplib::Result other = cp.policy("tok-curl", "foo/httpbin");
  CHECK(other->status == 403);
  CHECK(errorCode(other) == "forbidden");
  CHECK(cp.policy("tok-httpbin", "foo/missing")->status == 404);
  CHECK(cp.policy("tok-httpbin", "httpbin")->status == 400);
}

TEST_CASE("a long-poll holds while nothing changes and answers within a second of a change",
          "[control-plane]") {
  ControlPlane cp;
  const std::string version =
      json::parse(cp.policy("tok-httpbin", "foo/httpbin")->body).at("version").get<std::string>();
  auto started = std::chrono::steady_clock::now();
  const httplib::Result unchanged = cp.policy("tok-httpbin", "foo/httpbin", version, 1);
  REQUIRE(unchanged);
  CHECK(std::chrono::steady_clock::now() - started >= 900ms);
  CHECK(json::parse(unchanged->body).at("version") == version);
  // An unrelated snapshot (same policy) does not end the hold; a policy change does.
  std::thread publisher([&cp] {
    std::this_thread::sleep_for(200ms);
    cp.publish(stateYaml("STRICT"));
    std::this_thread::sleep_for(300ms);
    cp.publish(stateYaml("PERMISSIVE"));
  });
  started = std::chrono::steady_clock::now();
  const httplib::Result changed = cp.policy("tok-httpbin", "foo/httpbin", version, 8);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  publisher.join();
  REQUIRE(changed);
  CHECK(elapsed >= 450ms);
  CHECK(elapsed < 1500ms);
  const json body = json::parse(changed->body);
  CHECK(body.at("version") != version);
  CHECK(body.at("mode") == "PERMISSIVE");
  CHECK(cp.cp_metrics.feed_requests.value({"changed"}) >= 2);
}

// The change may land while the feed is still computing the answer it would hold; that change
// must end the hold, not the next one. Publish at random instants around each request.
TEST_CASE("a change that lands while a long-poll is being answered still ends the hold",
          "[control-plane]") {
  ControlPlane cp;
  const StateStore::Snapshot snapshots[] = {ControlPlane::snapshotOf(stateYaml("PERMISSIVE")),
                                            ControlPlane::snapshotOf(stateYaml("STRICT"))};
  std::unique_ptr<httplib::SSLClient> client = cp.client();
  std::string version =
      json::parse(cp.policy("tok-httpbin", "foo/httpbin")->body).at("version").get<std::string>();
  std::mt19937 random(20261123);
  std::uniform_int_distribution<int> delay_us(0, 600);
  for (int trial = 0; trial < 150; ++trial) {
    std::thread publisher([&, delay = delay_us(random)] {
      std::this_thread::sleep_for(std::chrono::microseconds(delay));
      cp.store.publish(snapshots[trial % 2]);
    });
    const auto started = std::chrono::steady_clock::now();
    const httplib::Result reply =
        client->Get("/v1/policy?pod=foo/httpbin&waitSeconds=5&version=" + version,
                    {{"Authorization", "Bearer tok-httpbin"}});
    const auto elapsed = std::chrono::steady_clock::now() - started;
    publisher.join();
    REQUIRE(reply);
    const std::string answered = json::parse(reply->body).at("version").get<std::string>();
    INFO("trial " << trial);
    REQUIRE(elapsed < 2s);
    CHECK(answered != version);
    version = answered;
  }
}

proxy::ProxyOptions proxyOptions(const ControlPlane& cp, const fs::path& token_file) {
  proxy::ProxyOptions options;
  options.pod_namespace = "foo";
  options.pod_name = "httpbin";
  options.control_plane.address = cp.address();
  options.control_plane.ca_file = (cp.dir.path() / "serving-root.pem").string();
  options.control_plane.token_file = token_file.string();
  options.control_plane.startup_timeout = 5s;
  options.control_plane.feed_wait = 5s;
  options.control_plane.max_backoff = 500ms;
  return options;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  return testing::FakeApiServer::waitFor(condition, timeout);
}

TEST_CASE("a proxy in control-plane mode gets its policy and identity and follows changes",
          "[control-plane][proxy]") {
  ControlPlane cp;
  writeText(cp.dir.path() / "token", "tok-httpbin\n");
  const proxy::ProxyOptions options = proxyOptions(cp, cp.dir.path() / "token");
  proxy::ProxyStats stats;
  proxy::ControlPlaneClient client(options, stats);
  std::string error;
  REQUIRE(client.loadInitial(error));
  CHECK(client.policy()->modeForPort(8000) == Mode::Strict);
  CHECK(client.tls()->info().spiffe_id == "spiffe://cluster.local/ns/foo/sa/httpbin");
  client.startWatching();

  const auto before = std::chrono::steady_clock::now();
  cp.publish(stateYaml("DISABLE"));
  REQUIRE(eventually([&] { return client.policy()->modeForPort(8000) == Mode::Disable; }, 3s));
  CHECK(std::chrono::steady_clock::now() - before < 1s);
  CHECK(client.certificatesIssued() == 1);
}

TEST_CASE(
    "a proxy renews its certificate at half-life and on a new root, and keeps serving "
    "while the control plane is down",
    "[control-plane][proxy]") {
  ControlPlane cp(4s);
  writeText(cp.dir.path() / "token", "tok-httpbin\n");
  proxy::ProxyStats stats;
  proxy::ControlPlaneClient client(proxyOptions(cp, cp.dir.path() / "token"), stats);
  std::string error;
  const bool loaded = client.loadInitial(error);
  INFO(error);
  REQUIRE(loaded);
  const auto first = client.tls();
  client.startWatching();
  // Half of 4 s: renewed after about 2 s, with a later expiry.
  REQUIRE(eventually([&] { return client.certificatesIssued() >= 2; }, 4s));
  CHECK(client.tls()->info().not_after > first->info().not_after);
  CHECK(client.tls()->info().spiffe_id == first->info().spiffe_id);

  // CA rotation: a new root signs, the old one stays trusted through trust-bundle.pem.
  const fs::path ca_dir = cp.dir.path() / "ca";
  fs::copy_file(ca_dir / id::kCaCertFile, ca_dir / "trust-bundle.pem");
  const id::CertificateAuthority next = writeCa(ca_dir);
  REQUIRE(cp.ca->reloadIfChanged());
  REQUIRE(eventually([&] { return signedBy(client.tls()->content(), next); }, 3s));
  CHECK(client.tls()->content().find(id::certificatePem(cp.root.cert.get()).value()) !=
        std::string::npos);  // the previous root is still trusted

  const int issued = client.certificatesIssued();
  const auto current = client.tls();
  cp.server->shutdown();
  std::this_thread::sleep_for(2500ms);  // past the half-life: renewals fail
  CHECK(client.tls() == current);
  CHECK(client.certificatesIssued() == issued);
  CHECK(client.policy() != nullptr);
  const auto stopping = std::chrono::steady_clock::now();
  client.stop();
  CHECK(std::chrono::steady_clock::now() - stopping < 2s);
}

TEST_CASE("a proxy whose control plane never answers gives up at the startup timeout",
          "[control-plane][proxy]") {
  ControlPlane cp;
  writeText(cp.dir.path() / "token", "tok-curl\n");  // not httpbin's: 403 forever
  proxy::ProxyOptions options = proxyOptions(cp, cp.dir.path() / "token");
  options.control_plane.startup_timeout = 1500ms;
  proxy::ProxyStats stats;
  proxy::ControlPlaneClient client(options, stats);
  std::string error;
  CHECK_FALSE(client.loadInitial(error));
  CHECK(error.find("within 1 s") != std::string::npos);
  CHECK(error.find("HTTP 403 forbidden") != std::string::npos);
}

}  // namespace
}  // namespace peergate::webhook
