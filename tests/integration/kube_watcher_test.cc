// The Kubernetes client and the cluster watcher against a fake API server that speaks the real
// wire format over HTTPS (tests/support/fake_apiserver.h), with certificates from
// tests/testdata/certs/gen.sh. Every wait has a deadline.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../../webhook/src/cluster_watcher.h"
#include "../../webhook/src/kube_client.h"
#include "../../webhook/src/kube_config.h"
#include "../../webhook/src/root_publisher.h"
#include "../support/fake_apiserver.h"
#include "../support/sanitizers.h"
#include "peergate/validation/cluster_state.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"
#include "peergate/webhook/token_auth.h"

extern char** environ;

namespace peergate::webhook {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeApiServer;
using testing::FakeRequest;
using namespace std::chrono_literals;
namespace k = peergate::testing;

constexpr auto kDeadline = 10s;

// ---------------------------------------------------------------------------------------------
// Files and certificates

fs::path makeTempDir(const std::string& prefix) {
  std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

const fs::path& certDir() {
  static const fs::path dir = [] {
    fs::path out = makeTempDir("peergate-kube-certs");
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

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written whole and renamed into place, as the kubelet swaps a projected token.
void writeFile(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.string() + ".tmp";
  std::ofstream(temporary, std::ios::binary) << text;
  fs::rename(temporary, path);
}

std::string base64(const std::string& text) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (const unsigned char c : text) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3Fu]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3Fu]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& prefix) : path(makeTempDir(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = kDeadline) {
  return FakeApiServer::waitFor(condition, limit);
}

// ---------------------------------------------------------------------------------------------
// The fake server, a client and a watcher

FakeApiServer::Options fakeOptions(std::size_t page_size = 2) {
  FakeApiServer::Options options;
  options.cert_file = cert("server.crt");
  options.key_file = cert("server.key");
  options.token = "token-1";
  options.max_page_size = page_size;
  return options;
}

ClusterWatcherOptions fastOptions() {
  ClusterWatcherOptions options;
  options.publish_interval = 30ms;
  options.confirm_interval = 100ms;
  options.initial_backoff = 50ms;
  options.max_backoff = 400ms;
  return options;
}

struct KubeHarness {
  TempDir dir{"peergate-kube"};
  FakeApiServer fake;
  MetricsRegistry registry;
  ServerMetrics metrics{registry};
  ClusterWatcherMetrics watcher_metrics{registry};
  StateStore store;
  std::shared_ptr<KubeClient> client;
  std::unique_ptr<ClusterWatcher> watcher;

  explicit KubeHarness(FakeApiServer::Options options = fakeOptions()) : fake(std::move(options)) {
    spdlog::set_level(spdlog::level::off);
    fake.addStandardResources();
    REQUIRE(fake.start());
    writeFile(dir.path / "token", "token-1\n");
  }
  ~KubeHarness() {
    if (watcher) watcher->stop();
    fake.stop();
  }

  KubeConfig config() const {
    KubeConfig config;
    config.server = fake.url();
    config.host = "127.0.0.1";
    config.port = fake.port();
    config.ca_file = cert("ca.crt");
    config.token_file = (dir.path / "token").string();
    config.origin = "test";
    return config;
  }

  // Three namespaces, five pods (two pages of two and one of one), two services, two
  // PeerAuthentications, one DestinationRule.
  void seed() {
    fake.apply(k::kNamespaces, k::namespaceObject("shop", {{"istio-injection", "enabled"}}));
    fake.apply(k::kNamespaces, k::namespaceObject("legacy"));
    fake.apply(k::kNamespaces, k::namespaceObject("istio-system"));
    for (int i = 1; i <= 3; ++i) {
      fake.apply(k::kPods,
                 k::podObject("shop", "web-" + std::to_string(i), {{"app", "web"}}, true));
    }
    fake.apply(k::kPods, k::podObject("legacy", "billing-1", {{"app", "billing"}}));
    fake.apply(k::kPods, k::podObject("legacy", "billing-2", {{"app", "billing"}}));
    fake.apply(k::kServices, k::serviceObject("shop", "web", {{"app", "web"}}, 80, 8080));
    fake.apply(k::kServices, k::serviceObject("legacy", "billing", {{"app", "billing"}}, 80, 8080));
    fake.apply(k::kPeerAuthentications,
               k::peerAuthenticationObject("istio-system", "default", "PERMISSIVE"));
    fake.apply(k::kPeerAuthentications, k::peerAuthenticationObject("shop", "shop", "STRICT"));
    fake.apply(
        k::kDestinationRules,
        k::destinationRuleObject("shop", "web", "web.shop.svc.cluster.local", "ISTIO_MUTUAL"));
  }

  void startWatcher(ClusterWatcherOptions options = fastOptions(),
                    KubeClientOptions client_options = {}) {
    startWatcherWith(config(), std::move(options), std::move(client_options));
  }
  void startWatcherWith(KubeConfig config, ClusterWatcherOptions options = fastOptions(),
                        KubeClientOptions client_options = {}) {
    client = std::make_shared<KubeClient>(std::move(config), client_options);
    watcher =
        std::make_unique<ClusterWatcher>(client, std::move(options), metrics, watcher_metrics);
    std::string error;
    REQUIRE(watcher->start(store, error));
  }

  // The published snapshot once `condition` holds for it.
  StateStore::Snapshot waitSnapshot(
      const std::function<bool(const validation::ClusterState&)>& condition,
      std::chrono::milliseconds limit = kDeadline) {
    StateStore::Snapshot found;
    eventually(
        [&] {
          StateStore::Snapshot current = store.current();
          if (current && condition(*current)) found = current;
          return found != nullptr;
        },
        limit);
    return found;
  }
  StateStore::Snapshot waitSynced() {
    return waitSnapshot([](const validation::ClusterState&) { return true; });
  }

  ClusterWatcher::KindStats kind(const std::string& name) const {
    for (const auto& stats : watcher->stats().kinds) {
      if (stats.kind == name) return stats;
    }
    FAIL("no kind " << name);
    return {};
  }

  int requests(const std::string& path, const std::function<bool(const FakeRequest&)>& also) {
    return fake.count([&](const FakeRequest& r) { return r.path == path && also(r); });
  }
  int lists(const std::string& path) {
    return requests(path, [](const FakeRequest& r) { return r.isList(); });
  }
  int firstPages(const std::string& path) {
    return requests(path, [](const FakeRequest& r) { return r.isList() && !r.has("continue"); });
  }
  std::vector<FakeRequest> watchesOf(const std::string& path) const {
    std::vector<FakeRequest> found;
    for (const FakeRequest& r : fake.requests()) {
      if (r.path == path && r.isWatch()) found.push_back(r);
    }
    return found;
  }
};

std::vector<std::string> podNames(const validation::ClusterState& state) {
  std::vector<std::string> names;
  for (const validation::Workload& workload : state.inputs().workloads) {
    if (workload.kind == "Pod")
      names.push_back(workload.meta.namespace_name + "/" + workload.meta.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool hasPod(const validation::ClusterState& state, const std::string& ns_name) {
  const auto names = podNames(state);
  return std::find(names.begin(), names.end(), ns_name) != names.end();
}

const validation::Workload* findPod(const validation::ClusterState& state, const std::string& ns,
                                    const std::string& name) {
  for (const validation::Workload& workload : state.inputs().workloads) {
    if (workload.meta.namespace_name == ns && workload.meta.name == name) return &workload;
  }
  return nullptr;
}

// =============================================================================================
// Client pieces

TEST_CASE("watch lines are split on newlines across chunk boundaries, bounded", "[kube]") {
  LineSplitter splitter(16);
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) {
    lines.emplace_back(line);
    return true;
  };
  CHECK(splitter.feed("{\"a\":", collect));
  CHECK(lines.empty());
  CHECK(splitter.pending() == 5);
  CHECK(splitter.feed("1}\n{\"b\":2}\n\n{\"c\"", collect));
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
  CHECK(splitter.feed(":3}\r\n", collect));
  CHECK(lines.back() == "{\"c\":3}\r");  // JSON parsing ignores the \r

  LineSplitter bounded(8);
  CHECK(bounded.feed("0123456", collect));
  CHECK_FALSE(bounded.feed("789\n", collect));
  CHECK(bounded.overflowed());
  CHECK(bounded.pending() == 0);
  CHECK_FALSE(bounded.feed("ok\n", collect));  // stays failed: the stream must be reopened

  LineSplitter stopping(64);
  int seen = 0;
  CHECK_FALSE(stopping.feed("a\nb\nc\n", [&](std::string_view) { return ++seen < 2; }));
  CHECK(seen == 2);
}

TEST_CASE("API errors are read from their metav1.Status", "[kube]") {
  const KubeError gone = statusError(
      410, R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)json"
           R"json("message":"too old resource version: 1 (5)","reason":"Expired","code":410})json");
  CHECK(gone.kind == KubeError::Kind::Http);
  CHECK(gone.expired());
  CHECK(gone.reason == "Expired");
  CHECK(gone.describe() == "HTTP 410 Expired: too old resource version: 1 (5)");

  const KubeError proxy = statusError(502, "<html>\nBad gateway</html>");
  CHECK(proxy.status == 502);
  CHECK(proxy.reason.empty());
  CHECK(proxy.describe() == "HTTP 502: <html> Bad gateway</html>");

  const KubeError event = statusError(
      json::parse(R"({"kind":"Status","status":"Failure","reason":"Expired","code":410})"), 500);
  CHECK(event.expired());
  CHECK_FALSE(statusError(json::parse(R"({"kind":"Status","code":500})"), 0).expired());
  CHECK(KubeClient::encodeQueryValue("a+b/c=d e~_.-") == "a%2Bb%2Fc%3Dd%20e~_.-");
}

TEST_CASE("the bearer token file is re-read when due and after invalidation", "[kube]") {
  TempDir dir("peergate-token");
  const fs::path file = dir.path / "token";
  writeFile(file, "first\n");
  BearerToken token("", file.string(), 150ms);
  CHECK(token.get() == "first");
  writeFile(file, "second");
  CHECK(token.get() == "first");  // read less than the refresh interval ago
  CHECK(eventually([&] { return token.get() == "second"; }, 2s));

  writeFile(file, "third");
  token.invalidate();  // a 401
  CHECK(token.get() == "third");

  fs::remove(file);  // mid-rotation: keep the last good token
  token.invalidate();
  CHECK(token.get() == "third");
  const int reads = token.reads();
  CHECK(token.get() == "third");
  CHECK(token.reads() == reads + 1);  // a failed read is retried on the next call

  BearerToken fixed("static", "", 1ms);
  CHECK(fixed.get() == "static");
  CHECK(fixed.reads() == 0);
}

// =============================================================================================
// List

TEST_CASE("the first snapshot is published only after every kind completed its paged list",
          "[kube]") {
  KubeHarness h;
  h.seed();
  h.fake.holdLists(k::kDestinationRules, true);
  h.startWatcher();

  // Every other kind lists and watches; without DestinationRules nothing is published.
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kNamespaces) == 1; }));
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPeerAuthentications) == 1; }));
  CHECK_FALSE(h.store.synced());
  CHECK(h.watcher->stats().publishes == 0);

  h.fake.holdLists(k::kDestinationRules, false);
  const StateStore::Snapshot state = h.waitSynced();
  REQUIRE(state);
  const validation::Inputs& inputs = state->inputs();
  CHECK(inputs.namespaces.size() == 3);
  CHECK(podNames(*state) == std::vector<std::string>{"legacy/billing-1", "legacy/billing-2",
                                                     "shop/web-1", "shop/web-2", "shop/web-3"});
  CHECK(inputs.services.size() == 2);
  CHECK(inputs.peer_authentications.size() == 2);
  CHECK(inputs.destination_rules.size() == 1);
  CHECK(inputs.skipped_kinds.empty());
  // Decoded by the engine as admission decodes: labels, proxies, policies.
  const validation::Workload* web = findPod(*state, "shop", "web-1");
  REQUIRE(web != nullptr);
  CHECK(web->pod_labels.at("app") == "web");
  CHECK(web->is_live);
  REQUIRE(state->findNamespace("shop") != nullptr);
  CHECK(state->findNamespace("shop")->meta.labels.at("istio-injection") == "enabled");
  CHECK(h.metrics.cluster_state_syncs.value({"success"}) >= 1);
  CHECK(h.metrics.cluster_state_objects.value({"Workload"}) == 5);

  // Five pods in pages of two: the first page and two continues, each with limit=500.
  CHECK(h.lists(k::kPods) == 3);
  CHECK(h.firstPages(k::kPods) == 1);
  for (const FakeRequest& request : h.fake.requests()) {
    CAPTURE(request.path);
    CHECK(request.accept == "application/json");
    CHECK(request.authorization == "Bearer token-1");
    CHECK(request.status == 200);
    if (request.isList()) {
      CHECK(request.param("limit") == "500");
      CHECK_FALSE(request.has("resourceVersion"));  // a consistent (quorum) read
    }
  }
  const auto watches = h.watchesOf(k::kPods);
  REQUIRE(watches.size() == 1);
  CHECK(watches[0].param("watch") == "1");
  CHECK(watches[0].param("allowWatchBookmarks") == "true");
  CHECK(watches[0].param("timeoutSeconds") == "300");
  CHECK(watches[0].param("resourceVersion") == h.kind("Pod").resource_version);
  for (const auto& stats : h.watcher->stats().kinds) {
    CAPTURE(stats.kind);
    CHECK(stats.listed);
    CHECK(stats.lists == 1);
    CHECK(stats.decode_failures == 0);
  }
}

TEST_CASE("an expired continue token restarts the list from the first page", "[kube]") {
  KubeHarness h;
  h.seed();
  h.fake.expireContinueTokens(k::kPods, 1);
  h.startWatcher();
  const StateStore::Snapshot state = h.waitSynced();
  REQUIRE(state);
  CHECK(podNames(*state).size() == 5);  // nothing twice, nothing lost
  CHECK(h.firstPages(k::kPods) == 2);
  CHECK(h.requests(k::kPods, [](const FakeRequest& r) { return r.status == 410; }) == 1);
  CHECK(h.kind("Pod").lists == 1);
}

// =============================================================================================
// Watch

TEST_CASE("watch events split across chunks update the snapshot; DELETED removes", "[kube]") {
  KubeHarness h;
  h.seed();
  ClusterWatcherOptions options = fastOptions();
  options.publish_interval = 200ms;  // the production debounce
  h.startWatcher(options);
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  const std::uint64_t publishes_before = h.watcher->stats().publishes;

  // A burst: the fake sends whatever is pending in two chunks cut in the middle of the first
  // line, so lines straddle chunks and several lines share one.
  for (int i = 1; i <= 20; ++i) {
    h.fake.apply(k::kPods, k::podObject("burst", "p-" + std::to_string(i), {{"app", "burst"}}));
  }
  const StateStore::Snapshot burst = h.waitSnapshot(
      [](const validation::ClusterState& state) { return podNames(state).size() == 25; });
  REQUIRE(burst);
  CHECK(hasPod(*burst, "burst/p-20"));
  // Debounced: far fewer snapshots than events.
  CHECK(h.watcher->stats().publishes - publishes_before < 10);

  // MODIFIED replaces the object.
  h.fake.apply(k::kPods, k::podObject("shop", "web-1", {{"app", "web"}, {"version", "v2"}}, true));
  const StateStore::Snapshot modified = h.waitSnapshot([](const validation::ClusterState& state) {
    const validation::Workload* pod = findPod(state, "shop", "web-1");
    return pod != nullptr && pod->pod_labels.count("version") == 1;
  });
  REQUIRE(modified);
  CHECK(podNames(*modified).size() == 25);

  const std::string rv = h.fake.remove(k::kPods, "shop", "web-1");
  h.fake.remove(k::kNamespaces, "", "legacy");
  const StateStore::Snapshot deleted = h.waitSnapshot([](const validation::ClusterState& state) {
    return !hasPod(state, "shop/web-1") && state.findNamespace("legacy") == nullptr;
  });
  REQUIRE(deleted);
  CHECK(podNames(*deleted).size() == 24);
  CHECK(h.kind("Pod").resource_version == rv);
  CHECK(h.kind("Pod").events == 22);
  CHECK(h.kind("Pod").decode_failures == 0);
  CHECK(h.watcher_metrics.events.value({"Pod", "ADDED"}) == 20);
  CHECK(h.watcher_metrics.events.value({"Pod", "MODIFIED"}) == 1);
  CHECK(h.watcher_metrics.events.value({"Pod", "DELETED"}) == 1);
  CHECK(h.lists(k::kPods) == 3);  // no relist
}

TEST_CASE("BOOKMARK advances the resourceVersion without a new snapshot", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  const StateStore::Snapshot before = h.waitSynced();
  REQUIRE(before);
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  const std::uint64_t publishes = h.watcher->stats().publishes;

  const std::string rv = h.fake.bookmark(k::kPods);
  REQUIRE(eventually([&] { return h.kind("Pod").resource_version == rv; }));
  CHECK(h.kind("Pod").bookmarks == 1);
  CHECK(h.kind("Pod").events == 0);
  CHECK(h.store.current() == before);  // the very same snapshot
  CHECK(h.watcher->stats().publishes == publishes);

  // A re-watch resumes from the bookmark.
  h.fake.endWatches(k::kPods);
  REQUIRE(eventually([&] { return h.watchesOf(k::kPods).size() == 2; }));
  CHECK(h.watchesOf(k::kPods)[1].param("resourceVersion") == rv);
}

TEST_CASE("a 410 ERROR event relists and replaces the kind's cache", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));

  // Changes the watch never reports (as if the watch cache lost them), then the server says the
  // version is too old: only a relist shows the truth.
  h.fake.removeSilently(k::kPods, "legacy", "billing-2");
  h.fake.applySilently(k::kPods, k::podObject("legacy", "billing-3", {{"app", "billing"}}));
  h.fake.compact();
  h.fake.sendExpired(k::kPods);

  const StateStore::Snapshot relisted = h.waitSnapshot([](const validation::ClusterState& state) {
    return !hasPod(state, "legacy/billing-2") && hasPod(state, "legacy/billing-3");
  });
  REQUIRE(relisted);
  CHECK(podNames(*relisted).size() == 5);
  CHECK(h.firstPages(k::kPods) == 2);
  CHECK(h.kind("Pod").relists_expired == 1);
  CHECK(h.kind("Pod").lists == 2);
  CHECK(h.watcher_metrics.relists.value({"Pod", "expired"}) == 1);
  CHECK(h.watcher_metrics.events.value({"Pod", "ERROR"}) == 1);
  // The other kinds were not disturbed, and the pod watch resumed from the new list.
  CHECK(h.firstPages(k::kNamespaces) == 1);
  REQUIRE(eventually([&] { return h.watchesOf(k::kPods).size() == 2; }));
  CHECK(h.watchesOf(k::kPods)[1].param("resourceVersion") == h.kind("Pod").resource_version);
}

TEST_CASE("an HTTP 410 on a watch relists", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));

  h.fake.setExpiredAs(FakeApiServer::ExpiredAs::HttpStatus);
  h.fake.removeSilently(k::kPods, "shop", "web-2");
  h.fake.compact();
  h.fake.dropWatches(k::kPods);  // the re-watch from the old version gets 410

  const StateStore::Snapshot relisted = h.waitSnapshot(
      [](const validation::ClusterState& state) { return !hasPod(state, "shop/web-2"); });
  REQUIRE(relisted);
  CHECK(podNames(*relisted).size() == 4);
  CHECK(h.requests(k::kPods, [](const FakeRequest& r) { return r.isWatch() && r.status == 410; }) ==
        1);
  CHECK(h.firstPages(k::kPods) == 2);
  CHECK(h.kind("Pod").relists_expired == 1);
}

TEST_CASE("a dropped connection re-watches from the last resourceVersion", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));

  const std::string rv = h.fake.apply(k::kPods, k::podObject("shop", "web-4", {{"app", "web"}}));
  REQUIRE(h.waitSnapshot([](const auto& state) { return hasPod(state, "shop/web-4"); }));
  REQUIRE(h.kind("Pod").resource_version == rv);

  h.fake.dropWatches(k::kPods, /*mid_event=*/true);  // half an event line, then gone
  REQUIRE(eventually([&] { return h.watchesOf(k::kPods).size() == 2; }));
  CHECK(h.watchesOf(k::kPods)[1].param("resourceVersion") == rv);

  h.fake.apply(k::kPods, k::podObject("shop", "web-5", {{"app", "web"}}));
  const StateStore::Snapshot resumed =
      h.waitSnapshot([](const auto& state) { return hasPod(state, "shop/web-5"); });
  REQUIRE(resumed);
  CHECK(podNames(*resumed).size() == 7);
  CHECK(h.lists(k::kPods) == 3);  // resumed, not relisted
  CHECK(h.kind("Pod").decode_failures == 0);
  CHECK(h.watcher_metrics.watches.value({"Pod", "error"}) == 1);
}

TEST_CASE("changes made while disconnected arrive when the watch resumes", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kNamespaces) == 1; }));

  h.fake.pauseWatches(k::kNamespaces, true);
  h.fake.apply(k::kNamespaces, k::namespaceObject("late"));
  h.fake.dropWatches(k::kNamespaces, /*mid_event=*/false);  // "late" never went out live
  h.fake.pauseWatches(k::kNamespaces, false);
  const StateStore::Snapshot state = h.waitSnapshot(
      [](const validation::ClusterState& s) { return s.findNamespace("late") != nullptr; });
  REQUIRE(state);
  CHECK(h.firstPages(k::kNamespaces) == 1);
}

TEST_CASE("a 401 makes the client read the rotated token file again", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  const int reads = h.client->token().reads();

  // The kubelet rotates the projected token; the old one stops working.
  writeFile(h.dir.path / "token", "token-2\n");
  h.fake.setToken("token-2");
  h.fake.dropWatches(k::kPods, /*mid_event=*/false);

  REQUIRE(eventually([&] {
    return h.requests(k::kPods, [](const FakeRequest& r) {
      return r.isWatch() && r.status == 200 && r.authorization == "Bearer token-2";
    }) == 1;
  }));
  CHECK(h.requests(k::kPods, [](const FakeRequest& r) { return r.status == 401; }) == 1);
  CHECK(h.client->token().reads() > reads);
  h.fake.apply(k::kPods, k::podObject("shop", "after-rotation"));
  REQUIRE(h.waitSnapshot([](const auto& state) { return hasPod(state, "shop/after-rotation"); }));
  CHECK(h.lists(k::kPods) == 3);
}

TEST_CASE("the token file is re-read periodically, not cached", "[kube]") {
  KubeHarness h;
  h.seed();
  KubeClientOptions client_options;
  client_options.token_refresh = 100ms;
  h.startWatcher(fastOptions(), client_options);
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kServices) == 1; }));
  writeFile(h.dir.path / "token", "token-2\n");
  h.fake.setToken("token-2");
  // No 401 is needed: the next request after the refresh interval carries the new token.
  std::this_thread::sleep_for(150ms);
  h.fake.endWatches(k::kServices);
  REQUIRE(eventually([&] {
    return h.requests(k::kServices, [](const FakeRequest& r) {
      return r.isWatch() && r.authorization == "Bearer token-2" && r.status == 200;
    }) == 1;
  }));
  CHECK(h.requests(k::kServices, [](const FakeRequest& r) { return r.status == 401; }) == 0);
}

TEST_CASE("an unreachable server: backoff, the last snapshot stays served, then recovery",
          "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  const StateStore::Snapshot synced = h.waitSynced();
  REQUIRE(synced);
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));

  h.fake.stop();
  REQUIRE(eventually([&] { return h.kind("Pod").consecutive_failures >= 2; }));
  CHECK_FALSE(h.kind("Pod").in_sync);
  CHECK_THAT(h.kind("Pod").last_error, Catch::Contains("connection failed"));
  const auto last_sync = h.store.lastSync();
  // Retries back off (50 ms doubling to 400 ms, with jitter): a handful in a second, not
  // hundreds; and nothing is confirmed while out of sync.
  std::this_thread::sleep_for(1s);
  CHECK(h.kind("Pod").consecutive_failures <= 15);
  CHECK(h.store.current() == synced);
  CHECK(h.store.lastSync() == last_sync);
  CHECK(h.watcher_metrics.in_sync.value({"Pod"}) == 0);

  REQUIRE(h.fake.start());  // the same port, the same data
  h.fake.apply(k::kPods, k::podObject("shop", "back"));
  REQUIRE(h.waitSnapshot([](const auto& state) { return hasPod(state, "shop/back"); }));
  CHECK(eventually([&] { return h.store.lastSync() > last_sync; }));
  CHECK(h.kind("Pod").in_sync);
  CHECK(h.kind("Pod").consecutive_failures == 0);
}

TEST_CASE("objects the decoder rejects are counted and left out, never fatal", "[kube]") {
  KubeHarness h;
  h.seed();
  json broken = k::podObject("legacy", "broken");
  broken["spec"]["containers"] = json::array({"not a container"});
  h.fake.apply(k::kPods, broken);
  h.startWatcher();
  const StateStore::Snapshot state = h.waitSynced();
  REQUIRE(state);
  CHECK(podNames(*state).size() == 5);
  CHECK(h.kind("Pod").decode_failures == 1);

  // A valid object that turns invalid must not linger in its old form.
  json web = k::podObject("shop", "web-2");
  web["spec"]["containers"] = json::array({42});
  h.fake.apply(k::kPods, web);
  REQUIRE(h.waitSnapshot([](const auto& s) { return !hasPod(s, "shop/web-2"); }));
  CHECK(h.kind("Pod").decode_failures == 2);
  CHECK(h.watcher_metrics.decode_failures.value({"Pod"}) == 2);
  h.fake.apply(k::kPods, k::podObject("shop", "web-6"));
  REQUIRE(h.waitSnapshot([](const auto& s) { return hasPod(s, "shop/web-6"); }));
}

TEST_CASE("the mesh ConfigMap is listed and watched by name when configured", "[kube]") {
  KubeHarness h;
  h.seed();
  json mesh = {{"kind", "ConfigMap"},
               {"apiVersion", "v1"},
               {"metadata", {{"name", "istio"}, {"namespace", "istio-system"}}},
               {"data", {{"mesh", "rootNamespace: mesh-root\ntrustDomain: example.org\n"}}}};
  h.fake.apply(k::kIstioConfigMaps, mesh);
  h.fake.apply(k::kIstioConfigMaps,
               {{"kind", "ConfigMap"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", "unrelated"}, {"namespace", "istio-system"}}},
                {"data", {{"x", "y"}}}});
  CHECK_FALSE(checkMeshConfigRef("istio-system/istio").has_value());
  CHECK(checkMeshConfigRef("istio").value() == "expected NAMESPACE/NAME, e.g. istio-system/istio");
  CHECK_THAT(checkMeshConfigRef("istio-system/mesh").value(), Catch::Contains("must be named"));

  ClusterWatcherOptions options = fastOptions();
  options.resources = defaultWatchedResources("istio-system/istio");
  REQUIRE(options.resources.size() == 6);
  h.startWatcher(options);
  const StateStore::Snapshot state = h.waitSynced();
  REQUIRE(state);
  CHECK(state->mesh().root_namespace == "mesh-root");
  CHECK(state->mesh().trust_domain == "example.org");
  CHECK(h.kind("ConfigMap").objects == 1);
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kIstioConfigMaps) == 1; }));
  CHECK(h.requests(k::kIstioConfigMaps, [](const FakeRequest& r) {
    return r.param("fieldSelector") == "metadata.name=istio";
  }) >= 2);  // the list and the watch

  mesh["data"]["mesh"] = "rootNamespace: other-root\n";
  h.fake.apply(k::kIstioConfigMaps, mesh);
  REQUIRE(h.waitSnapshot(
      [](const validation::ClusterState& s) { return s.mesh().root_namespace == "other-root"; }));
}

TEST_CASE("a custom resource the server does not serve counts as empty until it appears",
          "[kube]") {
  KubeHarness h;
  h.seed();
  h.fake.removeResource(k::kDestinationRules);  // Istio's CRDs are not installed
  ClusterWatcherOptions options = fastOptions();
  options.absent_recheck = 200ms;
  h.startWatcher(options);
  const StateStore::Snapshot state = h.waitSynced();
  REQUIRE(state);  // ready without them
  CHECK(state->inputs().destination_rules.empty());
  CHECK(state->inputs().peer_authentications.size() == 2);
  CHECK(h.kind("DestinationRule").absent);
  CHECK(h.kind("DestinationRule").in_sync);
  CHECK(h.watchesOf(k::kDestinationRules).empty());
  CHECK(h.watcher_metrics.lists.value({"DestinationRule", "absent"}) >= 1);

  h.fake.addResource(k::kDestinationRules, "DestinationRule", "networking.istio.io/v1", false);
  h.fake.apply(k::kDestinationRules,
               k::destinationRuleObject("shop", "web", "web.shop.svc.cluster.local", "DISABLE"));
  REQUIRE(h.waitSnapshot(
      [](const validation::ClusterState& s) { return s.inputs().destination_rules.size() == 1; }));
  CHECK_FALSE(h.kind("DestinationRule").absent);
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kDestinationRules) == 1; }));

  // A 404 for a core resource is an error, not an absence: never ready without pods.
  KubeHarness core;
  core.fake.removeResource(k::kPods);
  core.startWatcher(fastOptions());
  REQUIRE(eventually([&] { return core.kind("Pod").consecutive_failures >= 1; }));
  CHECK_THAT(core.kind("Pod").last_error, Catch::Contains("HTTP 404 NotFound"));
  CHECK_FALSE(core.kind("Pod").absent);
  CHECK_FALSE(core.store.synced());
}

// =============================================================================================
// TLS and credentials

TEST_CASE("the server certificate is verified against the configured CA and name", "[kube]") {
  KubeHarness h;
  h.seed();

  SECTION("an unrelated CA is refused with the reason") {
    KubeConfig config = h.config();
    config.ca_file = cert("other-ca.crt");
    h.startWatcherWith(config);
    REQUIRE(eventually([&] { return h.kind("Namespace").consecutive_failures >= 1; }));
    CHECK_THAT(h.kind("Namespace").last_error, Catch::Contains("server certificate not trusted"));
    CHECK(h.fake.requests().empty());
    CHECK_FALSE(h.store.synced());
  }
  SECTION("tls-server-name is the name checked, the address is still the server's") {
    KubeConfig config = h.config();
    config.tls_server_name = "localhost";
    h.startWatcherWith(config);
    CHECK(h.waitSynced());
  }
  SECTION("a tls-server-name the certificate does not carry is refused") {
    KubeConfig config = h.config();
    config.tls_server_name = "kubernetes.default.svc";
    h.startWatcherWith(config);
    REQUIRE(eventually([&] { return h.kind("Namespace").consecutive_failures >= 1; }));
    CHECK_THAT(h.kind("Namespace").last_error, Catch::Contains("not trusted"));
  }
  SECTION("insecure-skip-tls-verify accepts any certificate") {
    KubeConfig config = h.config();
    config.ca_file.clear();
    config.insecure_skip_tls_verify = true;
    h.startWatcherWith(config);
    CHECK(h.waitSynced());
  }
  SECTION("CA as certificate-authority-data") {
    KubeConfig config = h.config();
    config.ca_file.clear();
    config.ca_pem = readAll(cert("ca.crt"));
    h.startWatcherWith(config);
    CHECK(h.waitSynced());
  }
}

TEST_CASE("client certificate authentication, and credentials that cannot load", "[kube]") {
  FakeApiServer::Options options = fakeOptions();
  options.client_ca_file = cert("ca.crt");
  options.token = "";
  KubeHarness h(options);
  h.seed();
  KubeConfig config = h.config();
  config.token_file.clear();
  config.client_cert_pem = readAll(cert("client.crt"));
  config.client_key_pem = readAll(cert("client.key"));
  h.startWatcherWith(config);
  CHECK(h.waitSynced());
  for (const FakeRequest& request : h.fake.requests()) CHECK(request.authorization.empty());

  KubeConfig mismatched = h.config();
  mismatched.client_cert_file = cert("client.crt");
  mismatched.client_key_file = cert("server.key");
  KubeClient client(mismatched);
  std::string error;
  CHECK_FALSE(client.valid(&error));
  CHECK(error == "the client key does not match the client certificate");
  ClusterWatcher watcher(std::make_shared<KubeClient>(mismatched), fastOptions(), h.metrics,
                         h.watcher_metrics);
  StateStore store;
  CHECK_FALSE(watcher.start(store, error));

  KubeConfig no_ca = h.config();
  no_ca.ca_file = (h.dir.path / "missing.crt").string();
  CHECK_FALSE(KubeClient(no_ca).valid(&error));
  CHECK_THAT(error, Catch::StartsWith("cannot read the CA bundle"));
}

TEST_CASE("stop() ends idle watches promptly", "[kube]") {
  KubeHarness h;
  h.seed();
  h.startWatcher();
  REQUIRE(h.waitSynced());
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  const auto started = std::chrono::steady_clock::now();
  h.watcher->stop();
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  CHECK(h.store.synced());  // the last snapshot stays
}

// =============================================================================================
// The binary: `peergate webhook --kubeconfig`

pid_t spawnWebhook(const std::vector<std::string>& args, const fs::path& log,
                   const std::vector<std::string>& extra_environment = {}) {
  std::vector<std::string> environment(extra_environment);
  for (char** variable = environ; *variable != nullptr; ++variable) {
    const std::string entry = *variable;
    const std::string name = entry.substr(0, entry.find('='));
    const bool replaced =
        std::any_of(extra_environment.begin(), extra_environment.end(),
                    [&](const std::string& extra) { return extra.starts_with(name + "="); });
    if (!replaced) environment.push_back(entry);
  }
  std::vector<char*> environment_pointers;
  for (std::string& entry : environment) environment_pointers.push_back(entry.data());
  environment_pointers.push_back(nullptr);
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
  const int status = posix_spawn(&pid, PEERGATE_BINARY, &actions, nullptr, pointers.data(),
                                 environment_pointers.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(status == 0);
  return pid;
}

std::optional<json> waitForLogLine(const fs::path& log, const std::string& message,
                                   std::chrono::milliseconds limit) {
  std::optional<json> found;
  eventually(
      [&] {
        std::ifstream in(log);
        std::string line;
        while (std::getline(in, line)) {
          const json parsed = json::parse(line, nullptr, false);
          if (!parsed.is_discarded() && parsed.value("msg", "") == message) {
            found = parsed;
            return true;
          }
        }
        return false;
      },
      limit);
  return found;
}

std::optional<int> waitExit(pid_t pid, std::chrono::milliseconds limit) {
  int status = 0;
  std::optional<int> code;
  eventually(
      [&] {
        if (::waitpid(pid, &status, WNOHANG) != pid) return false;
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return true;
      },
      limit);
  if (!code) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  return code;
}

std::string strictReview(const std::string& uid, const std::string& ns) {
  return json({{"kind", "AdmissionReview"},
               {"apiVersion", "admission.k8s.io/v1"},
               {"request",
                {{"uid", uid},
                 {"kind",
                  {{"group", "security.istio.io"},
                   {"version", "v1"},
                   {"kind", "PeerAuthentication"}}},
                 {"resource",
                  {{"group", "security.istio.io"},
                   {"version", "v1"},
                   {"resource", "peerauthentications"}}},
                 {"name", "default"},
                 {"namespace", ns},
                 {"operation", "CREATE"},
                 {"userInfo", {{"username", "alice"}}},
                 {"object",
                  {{"apiVersion", "security.istio.io/v1"},
                   {"kind", "PeerAuthentication"},
                   {"metadata", {{"name", "default"}, {"namespace", ns}}},
                   {"spec", {{"mtls", {{"mode", "STRICT"}}}}}}},
                 {"oldObject", nullptr},
                 {"dryRun", false}}}})
      .dump();
}

TEST_CASE("peergate webhook --kubeconfig is ready after the first list and admits on live state",
          "[kube]") {
  KubeHarness h;
  h.seed();
  h.fake.holdLists(k::kPeerAuthentications, true);
  const std::string kubeconfig =
      "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
      "clusters:\n- name: fake\n  cluster:\n    server: " +
      h.fake.url() + "\n    certificate-authority-data: " + base64(readAll(cert("ca.crt"))) +
      "\n"
      "users:\n- name: sa\n  user:\n    tokenFile: token\n"
      "contexts:\n- name: test\n  context: {cluster: fake, user: sa}\n";
  writeFile(h.dir.path / "kubeconfig", kubeconfig);
  const fs::path log = h.dir.path / "webhook.log";
  const pid_t pid = spawnWebhook(
      {"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1", "--tls-cert",
       cert("server.crt"), "--tls-key", cert("server.key"), "--kubeconfig",
       (h.dir.path / "kubeconfig").string(), "--shutdown-delay", "0", "--log-format", "json"},
      log);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (::kill(pid, 0) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  const std::optional<json> serving = waitForLogLine(log, "serving", 20s);
  INFO(readAll(log));
  REQUIRE(serving);
  httplib::Client admin("127.0.0.1", (*serving)["admin_port"].get<int>());
  admin.set_read_timeout(5, 0);

  // Every kind but PeerAuthentications is listed and watched: not ready yet.
  REQUIRE(eventually([&] { return h.fake.openWatches(k::kPods) == 1; }));
  const auto waiting = admin.Get("/readyz");
  REQUIRE(waiting);
  CHECK(waiting->status == 503);
  CHECK(json::parse(waiting->body)["synced"] == false);

  h.fake.holdLists(k::kPeerAuthentications, false);
  REQUIRE(eventually([&] {
    const auto ready = admin.Get("/readyz");
    return ready && ready->status == 200;
  }));
  CHECK(waitForLogLine(log, "cluster state synced: every kind listed", 1s));

  httplib::SSLClient client("localhost", (*serving)["https_port"].get<int>());
  client.set_ca_cert_path(cert("ca.crt").c_str());
  client.enable_server_certificate_verification(true);
  client.set_read_timeout(5, 0);
  auto allowed = [&](const std::string& uid) {
    const auto reply = client.Post("/validate", strictReview(uid, "payments"), "application/json");
    REQUIRE(reply);
    REQUIRE(reply->status == 200);
    return json::parse(reply->body)["response"];
  };
  // STRICT in an empty namespace breaks nothing.
  CHECK(allowed("uid-before")["allowed"] == true);

  // A namespace and a pod without a proxy arrive by watch: STRICT would now cut it off.
  h.fake.apply(k::kNamespaces, k::namespaceObject("payments"));
  h.fake.apply(k::kPods, k::podObject("payments", "ledger-1", {{"app", "ledger"}}));
  json response;
  REQUIRE(eventually([&] {
    response = allowed("uid-after");
    return response["allowed"] == false;
  }));
  CHECK_THAT(response["status"]["message"].get<std::string>(),
             Catch::Contains("payments/ledger-1"));

  const auto metrics = admin.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(
      metrics->body,
      Catch::Contains("peergate_cluster_state_lists_total{kind=\"Pod\",result=\"success\"} 1"));

  REQUIRE(::kill(pid, SIGTERM) == 0);
  CHECK(waitExit(pid, 10s) == 0);
}

TEST_CASE("peergate webhook in a pod uses the service account and KUBERNETES_SERVICE_*", "[kube]") {
  KubeHarness h;
  h.seed();
  const fs::path account = h.dir.path / "serviceaccount";
  fs::create_directories(account);
  writeFile(account / "token", "token-1");
  writeFile(account / "ca.crt", readAll(cert("ca.crt")));
  writeFile(account / "namespace", "peergate-system");
  const fs::path log = h.dir.path / "webhook.log";
  const pid_t pid =
      spawnWebhook({"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1", "--tls-cert",
                    cert("server.crt"), "--tls-key", cert("server.key"), "--shutdown-delay", "0"},
                   log,
                   {"KUBERNETES_SERVICE_HOST=127.0.0.1",
                    "KUBERNETES_SERVICE_PORT=" + std::to_string(h.fake.port()),
                    "PEERGATE_SERVICE_ACCOUNT_DIR=" + account.string()});
  const std::optional<json> serving = waitForLogLine(log, "serving", 20s);
  INFO(readAll(log));
  if (!serving) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    FAIL("no 'serving' line in the log");
  }
  httplib::Client admin("127.0.0.1", (*serving)["admin_port"].get<int>());
  admin.set_read_timeout(5, 0);
  const bool ready = eventually([&] {
    const auto reply = admin.Get("/readyz");
    return reply && reply->status == 200;
  });
  const std::optional<json> watching = waitForLogLine(log, "watching the Kubernetes API", 1s);
  ::kill(pid, SIGTERM);
  CHECK(waitExit(pid, 10s) == 0);
  CHECK(ready);
  REQUIRE(watching);
  CHECK((*watching)["origin"] ==
        "in-cluster (https://127.0.0.1:" + std::to_string(h.fake.port()) + ")");
  CHECK(h.fake.count([](const FakeRequest& r) { return r.authorization != "Bearer token-1"; }) ==
        0);
}

TEST_CASE("peergate webhook --kubeconfig with a broken kubeconfig exits 65 naming the field",
          "[kube]") {
  TempDir dir("peergate-kube-binary");
  writeFile(dir.path / "kubeconfig",
            "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
            "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:8080'}}]\n");
  const fs::path log = dir.path / "webhook.log";
  const pid_t pid = spawnWebhook({"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1",
                                  "--tls-cert", cert("server.crt"), "--tls-key", cert("server.key"),
                                  "--kubeconfig", (dir.path / "kubeconfig").string()},
                                 log);
  CHECK(waitExit(pid, 10s) == 65);
  const std::optional<json> line = waitForLogLine(log, "invalid Kubernetes API configuration", 1s);
  INFO(readAll(log));
  REQUIRE(line);
  CHECK_THAT((*line)["error"].get<std::string>(),
             Catch::Contains("clusters[0].cluster.server: plain http is not supported"));
}

// ---- Soak: admission under load while the serving certificate rotates and the watch drops ----

struct ProcessUsage {
  std::size_t fds = 0;
  long rss_kb = 0;
};

ProcessUsage usageOf(pid_t pid) {
  ProcessUsage usage;
  const fs::path proc = "/proc/" + std::to_string(pid);
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(proc / "fd")) ++usage.fds;
  std::ifstream status(proc / "status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) usage.rss_kb = std::stol(line.substr(6));
  }
  return usage;
}

struct SoakCounts {
  std::atomic<int> requests{0};
  std::atomic<int> failed{0};  // no reply, or not HTTP 200
  std::atomic<int> wrong{0};   // a reply with the wrong verdict
};

// Alternates a change that must be allowed (STRICT on payments: nothing there to break) and one
// that must be denied (STRICT on legacy: its pods have no proxy) until `deadline`, opening a new
// connection every 20 requests so handshakes keep happening across the certificate rotation.
void soakClient(int port, int id, std::chrono::steady_clock::time_point deadline,
                SoakCounts& counts) {
  int sent = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    httplib::SSLClient client("localhost", port);
    client.set_ca_cert_path(cert("ca.crt").c_str());
    client.enable_server_certificate_verification(true);
    client.set_read_timeout(5, 0);
    client.set_keep_alive(true);
    for (int i = 0; i < 20 && std::chrono::steady_clock::now() < deadline; ++i, ++sent) {
      const bool deny = sent % 2 == 1;
      const std::string uid = "soak-" + std::to_string(id) + "-" + std::to_string(sent);
      const auto reply = client.Post("/validate", strictReview(uid, deny ? "legacy" : "payments"),
                                     "application/json");
      ++counts.requests;
      if (!reply || reply->status != 200) {
        ++counts.failed;
        continue;
      }
      const json response = json::parse(reply->body, nullptr, false);
      if (response.is_discarded() || response["response"]["uid"] != uid ||
          response["response"]["allowed"] != !deny) {
        ++counts.wrong;
      }
    }
  }
}

TEST_CASE("soak: no failed or wrong verdict across a certificate rotation and a dropped watch",
          "[kube][soak]") {
  KubeHarness h;
  h.seed();
  fs::copy_file(cert("server.crt"), h.dir.path / "tls.crt");
  fs::copy_file(cert("server.key"), h.dir.path / "tls.key");
  writeFile(h.dir.path / "kubeconfig",
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: fake\n"
            "  cluster:\n    server: " +
                h.fake.url() +
                "\n    certificate-authority-data: " + base64(readAll(cert("ca.crt"))) +
                "\nusers:\n- name: sa\n  user:\n    tokenFile: token\n"
                "contexts:\n- name: test\n  context: {cluster: fake, user: sa}\n");
  const fs::path log = h.dir.path / "webhook.log";
  const pid_t pid = spawnWebhook(
      {"--port", "0", "--admin-port", "0", "--bind-address", "127.0.0.1", "--tls-cert",
       (h.dir.path / "tls.crt").string(), "--tls-key", (h.dir.path / "tls.key").string(),
       "--kubeconfig", (h.dir.path / "kubeconfig").string(), "--shutdown-delay", "0",
       "--log-format", "json"},
      log);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      if (::kill(pid, 0) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid};
  const std::optional<json> serving = waitForLogLine(log, "serving", 20s);
  INFO(readAll(log));
  REQUIRE(serving);
  const int port = (*serving)["https_port"].get<int>();
  httplib::Client admin("127.0.0.1", (*serving)["admin_port"].get<int>());
  REQUIRE(eventually([&] {
    const auto ready = admin.Get("/readyz");
    return ready && ready->status == 200;
  }));

  // Warm up (thread stacks, TLS contexts, allocator arenas, and each event loop's epoll, timer
  // and wake-up descriptors, made when its first connection arrives) before the baseline: one
  // client per loop, since connections go to the loops round-robin.
  SoakCounts warmup;
  std::vector<std::thread> warmers;
  const auto warm_until = std::chrono::steady_clock::now() + 1s;
  for (int id = 0; id < (*serving)["workers"].get<int>(); ++id) {
    warmers.emplace_back([&, id] { soakClient(port, 100 + id, warm_until, warmup); });
  }
  for (std::thread& warmer : warmers) warmer.join();
  const ProcessUsage before = usageOf(pid);

  SoakCounts counts;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + 12s;
  std::vector<std::thread> clients;
  for (int id = 1; id <= 4; ++id) {
    clients.emplace_back([&, id] { soakClient(port, id, deadline, counts); });
  }
  std::this_thread::sleep_until(start + 4s);
  // The rotation as a Secret volume does it: new files swapped in by rename.
  fs::copy_file(cert("server2.crt"), h.dir.path / "tls.crt.new");
  fs::copy_file(cert("server2.key"), h.dir.path / "tls.key.new");
  fs::rename(h.dir.path / "tls.key.new", h.dir.path / "tls.key");
  fs::rename(h.dir.path / "tls.crt.new", h.dir.path / "tls.crt");
  std::this_thread::sleep_until(start + 8s);
  h.fake.dropWatches(k::kPods, /*mid_event=*/true);
  h.fake.dropWatches(k::kNamespaces, /*mid_event=*/false);
  for (std::thread& client : clients) client.join();

  const ProcessUsage after = usageOf(pid);
  INFO("requests " << counts.requests << ", fds " << before.fds << " -> " << after.fds << ", RSS "
                   << before.rss_kb << " -> " << after.rss_kb << " KiB");
  CHECK(counts.requests > 40);  // enough to span the rotation and the drop, even under ASan
  CHECK(counts.failed == 0);
  CHECK(counts.wrong == 0);
  CHECK(after.fds <= before.fds + 8);  // the clients' connections are closed again
  if (!PEERGATE_TEST_SANITIZED) CHECK(after.rss_kb <= before.rss_kb + 32768);  // no growth
  // The rotated certificate (serial 1002) was loaded while the clients ran.
  CHECK_THAT(readAll(log), Catch::Contains("\"serial\":\"1002\""));
  CHECK(h.fake.count([](const FakeRequest& r) {
    return r.isWatch() && r.path.find("/pods") != std::string::npos;
  }) >= 2);

  REQUIRE(::kill(pid, SIGTERM) == 0);
  CHECK(waitExit(pid, 10s) == 0);
}

// ---------------------------------------------------------------------------------------------
// TokenReview: the CA asks the API server who a proxy is

TEST_CASE("TokenReview authenticates a pod's projected token for our audience", "[kube][tokens]") {
  KubeHarness h;
  h.fake.addServiceAccountToken("jwt-httpbin", "foo", "httpbin", "peergate-ca", "httpbin-1");
  h.fake.addServiceAccountToken("jwt-istio", "foo", "httpbin", "istio-ca");
  TokenReviewAuthenticator tokens(std::make_shared<KubeClient>(h.config()), {});

  const AuthOutcome httpbin = tokens.authenticate("jwt-httpbin");
  CHECK(httpbin.status == AuthOutcome::Status::Authenticated);
  CHECK(httpbin.caller.namespace_name == "foo");
  CHECK(httpbin.caller.service_account == "httpbin");
  CHECK(httpbin.caller.pod_name == "httpbin-1");
  // The request carried our own credentials and asked for our audience.
  const std::vector<FakeRequest> requests = h.fake.requests();
  REQUIRE_FALSE(requests.empty());
  CHECK(requests.back().method == "POST");
  CHECK(requests.back().path == k::kTokenReviews);
  CHECK(requests.back().authorization == "Bearer token-1");

  const AuthOutcome other_audience = tokens.authenticate("jwt-istio");
  CHECK(other_audience.status == AuthOutcome::Status::Rejected);
  CHECK(other_audience.message.find("audience \"peergate-ca\"") != std::string::npos);
  CHECK(tokens.authenticate("forged").status == AuthOutcome::Status::Rejected);
}

TEST_CASE(
    "TokenReview verdicts are cached; an unreachable API server is unavailable, not a "
    "rejection",
    "[kube][tokens]") {
  KubeHarness h;
  h.fake.addServiceAccountToken("jwt-httpbin", "foo", "httpbin", "peergate-ca");
  TokenReviewAuthenticator tokens(std::make_shared<KubeClient>(h.config()), {});
  const auto reviews = [&] {
    return h.fake.count([](const FakeRequest& r) { return r.path == k::kTokenReviews; });
  };
  CHECK(tokens.authenticate("jwt-httpbin").status == AuthOutcome::Status::Authenticated);
  CHECK(tokens.authenticate("jwt-httpbin").status == AuthOutcome::Status::Authenticated);
  CHECK(reviews() == 1);
  h.fake.stop();
  const AuthOutcome down = tokens.authenticate("jwt-new");
  CHECK(down.status == AuthOutcome::Status::Unavailable);
  CHECK(down.message.find("TokenReview failed") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The mesh root in every namespace, for injected proxies

TEST_CASE("the mesh root ConfigMap is written into every non-system namespace, once per bundle",
          "[kube][control-plane]") {
  KubeHarness h;
  validation::Inputs inputs;
  REQUIRE(validation::decodeInto("apiVersion: v1\nkind: Namespace\nmetadata: {name: foo}\n---\n"
                                 "apiVersion: v1\nkind: Namespace\nmetadata: {name: bar}\n---\n"
                                 "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n",
                                 "ns.yaml", inputs)
              .ok());
  h.store.publish(std::make_shared<const validation::ClusterState>(std::move(inputs)));
  std::string roots = "ROOT-1";
  RootPublisher publisher(
      std::make_shared<KubeClient>(h.config()), h.store, [&roots] { return roots; }, h.registry);
  const auto writes = [&] {
    return h.fake.count([](const FakeRequest& r) {
      return r.path.find("/configmaps") != std::string::npos &&
             (r.method == "POST" || r.method == "PUT");
    });
  };

  CHECK(publisher.publishOnce() == 0);
  CHECK(h.fake.configMap("foo", "peergate-ca-root")["data"]["root-cert.pem"] == "ROOT-1");
  CHECK(h.fake.configMap("bar", "peergate-ca-root")["data"]["root-cert.pem"] == "ROOT-1");
  CHECK(h.fake.configMap("kube-system", "peergate-ca-root").is_null());
  CHECK(writes() == 2);
  CHECK(publisher.publishOnce() == 0);
  CHECK(writes() == 2);  // nothing changed: nothing written

  roots = "ROOT-1\nROOT-2";  // a rotation: the ConfigMaps exist, so create gets 409, then PUT
  CHECK(publisher.publishOnce() == 0);
  CHECK(h.fake.configMap("foo", "peergate-ca-root")["data"]["root-cert.pem"] == "ROOT-1\nROOT-2");
  CHECK(h.fake.count([](const FakeRequest& r) { return r.method == "PUT"; }) == 2);

  roots = "ROOT-2";
  h.fake.stop();
  CHECK(publisher.publishOnce() == 2);  // both retried on the next pass
  REQUIRE(h.fake.start());
  CHECK(publisher.publishOnce() == 0);
  CHECK(h.fake.configMap("bar", "peergate-ca-root")["data"]["root-cert.pem"] == "ROOT-2");
}

}  // namespace
}  // namespace peergate::webhook
