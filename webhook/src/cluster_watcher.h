#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "kube_client.h"
#include "peergate/validation/model.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_source.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

// One collection the watcher lists and watches.
struct WatchedResource {
  std::string kind;            // "Pod": the kind of the items (core list items carry none)
  std::string api_version;     // "v1", "security.istio.io/v1"
  std::string path;            // "/api/v1/pods"
  std::string field_selector;  // "" or "metadata.name=istio"
};

// Namespaces, Pods, Services, PeerAuthentications, DestinationRules (all namespaces), plus the
// mesh ConfigMap NAMESPACE/NAME when `mesh_config` is set (its name must be one the decoder
// reads as mesh config: "istio" or "peergate-mesh").
std::vector<WatchedResource> defaultWatchedResources(const std::string& mesh_config = "");

// "istio-system/istio" → nullopt when valid, else the reason.
std::optional<std::string> checkMeshConfigRef(const std::string& reference);

struct ClusterWatcherOptions {
  std::vector<WatchedResource> resources = defaultWatchedResources();
  int watch_timeout_seconds = 300;                   // ?timeoutSeconds= of each watch
  std::chrono::milliseconds publish_interval{200};   // at most one new snapshot per interval
  std::chrono::milliseconds confirm_interval{1000};  // re-confirm freshness while in sync
  std::chrono::milliseconds initial_backoff{500};    // after the first failure
  std::chrono::milliseconds max_backoff{30'000};     // cap of the exponential backoff
  // A custom resource the server does not serve (404: CRD not installed) counts as empty and
  // is listed again this often.
  std::chrono::milliseconds absent_recheck{60'000};
};

// Counters of the watcher, declared once (docs/cluster-state.md lists them).
struct ClusterWatcherMetrics {
  explicit ClusterWatcherMetrics(MetricsRegistry& registry);
  Counter& lists;            // {kind, result}: complete paged LISTs
  Counter& watches;          // {kind, result}: WATCH requests and how they ended
  Counter& events;           // {kind, type}: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  Counter& relists;          // {kind, reason}: expired (410), error
  Counter& decode_failures;  // {kind}: objects the engine decoder rejected (left out)
  Gauge& in_sync;            // {kind}: 1 while the kind's watch is current
};

// `--kubeconfig` / in-cluster: keeps a ClusterState in step with the API server. For every
// resource a thread LISTs (paged) and then WATCHes from the list's resourceVersion; events are
// applied to a per-kind cache keyed namespace/name (each object decoded by the engine's
// decodeObjectInto, as admission decodes); 410 Expired relists and replaces that kind's cache;
// a stream end re-watches from the last resourceVersion; failures back off exponentially with
// jitter. The first snapshot is published once every kind has completed its first list;
// later changes are published at most every `publish_interval`. A custom resource the server
// does not serve (404, e.g. Istio's CRDs not installed) counts as listed and empty.
//
// Freshness: a snapshot is published (and its freshness re-confirmed every `confirm_interval`)
// only while every kind is in sync (listed, and its watch open or being re-opened). While any
// kind is out of sync, the store keeps the last consistent snapshot and StateStore::lastSync
// keeps the time everything was last known current, so /readyz turns stale after
// maxStalenessSeconds.
class ClusterWatcher final : public StateSource {
 public:
  ClusterWatcher(std::shared_ptr<KubeClient> client, ClusterWatcherOptions options,
                 ServerMetrics& metrics, ClusterWatcherMetrics& watcher_metrics);
  ~ClusterWatcher() override;
  ClusterWatcher(const ClusterWatcher&) = delete;
  ClusterWatcher& operator=(const ClusterWatcher&) = delete;

  // Starts the threads and returns; false only when the client cannot work at all (unreadable
  // CA bundle, client key not matching its certificate).
  bool start(StateStore& store, std::string& error) override;
  void stop() override;
  std::string_view name() const override { return "kubernetes"; }

  struct KindStats {
    std::string kind;
    std::string resource_version;  // last seen
    std::size_t objects = 0;       // in the cache
    int lists = 0;                 // completed lists (the first included)
    int watches = 0;               // watch requests that opened
    int relists_expired = 0;       // lists after a 410
    std::uint64_t events = 0;      // ADDED/MODIFIED/DELETED applied
    std::uint64_t bookmarks = 0;
    std::uint64_t decode_failures = 0;
    int consecutive_failures = 0;
    bool listed = false;
    bool in_sync = false;
    bool absent = false;  // the server does not serve this resource (404): treated as empty
    std::string last_error;
  };
  struct Stats {
    std::vector<KindStats> kinds;
    std::uint64_t publishes = 0;  // snapshots built and published
  };
  Stats stats() const;

 private:
  using Decoded = std::variant<validation::Namespace, validation::Workload, validation::Service,
                               validation::PeerAuthentication, validation::DestinationRule,
                               validation::MeshConfig>;
  using Cache = std::map<std::string, Decoded>;  // "namespace/name" or "name"

  struct KindState {
    WatchedResource resource;
    Cache cache;
    KindStats stats;
  };

  bool stopping() const;
  void run(std::size_t index);
  void publishLoop();
  // Decodes one object; nullopt (counted, logged) when the decoder rejects it or skips it.
  std::optional<Decoded> decode(std::size_t index, nlohmann::json& object);
  enum class ListOutcome { Listed, Absent, Failed };
  ListOutcome listKind(std::size_t index);
  // The outcome of one watch: true when the kind must be listed again.
  bool watchKind(std::size_t index);
  void markOutOfSync(std::size_t index, const std::string& error);
  bool waitBackoff(std::size_t index);  // false when stopping
  StateStore::Snapshot buildSnapshot();

  std::shared_ptr<KubeClient> client_;
  const ClusterWatcherOptions options_;
  ServerMetrics& metrics_;
  ClusterWatcherMetrics& watcher_metrics_;
  StateStore* store_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // publisher: dirty, sync state, stopping
  std::condition_variable wake_;     // workers: stopping (ends backoff waits)
  std::vector<KindState> kinds_;
  bool dirty_ = false;
  bool stopping_ = false;
  std::size_t exited_ = 0;  // workers that returned (stop() waits for all)
  std::uint64_t publishes_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace peergate::webhook
