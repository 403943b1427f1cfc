#include "cluster_watcher.h"

#include <algorithm>
#include <random>
#include <utility>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/decision_log.h"

namespace peergate::webhook {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Decode failures logged per kind before only every 100th is.
constexpr std::uint64_t kLoggedDecodeFailures = 20;
// A watch that ends cleanly sooner than this without events counts as a failure for backoff,
// so a server that closes every stream at once is not hammered.
constexpr auto kShortWatch = std::chrono::seconds(1);
// A watch that delivered something, or stayed open this long, resets the backoff.
constexpr auto kProductiveWatch = std::chrono::seconds(10);

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() ? nullptr : &*found;
}

std::string stringMember(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string{};
}

std::string resourceVersionOf(const json& object) {
  const json* metadata = member(object, "metadata");
  return metadata != nullptr ? stringMember(*metadata, "resourceVersion") : std::string{};
}

// "namespace/name" (or "name" for cluster-scoped objects); "" without a name.
std::string keyOf(const json& object) {
  const json* metadata = member(object, "metadata");
  if (metadata == nullptr) return {};
  const std::string name = stringMember(*metadata, "name");
  if (name.empty()) return {};
  const std::string ns = stringMember(*metadata, "namespace");
  return ns.empty() ? name : ns + "/" + name;
}

template <typename T>
std::optional<T> takeOnly(std::vector<T>& objects) {
  if (objects.size() != 1) return std::nullopt;
  return std::move(objects.front());
}

double millisOf(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

}  // namespace

std::vector<WatchedResource> defaultWatchedResources(const std::string& mesh_config) {
  std::vector<WatchedResource> resources = {
      {"Namespace", "v1", "/api/v1/namespaces", ""},
      {"Pod", "v1", "/api/v1/pods", ""},
      {"Service", "v1", "/api/v1/services", ""},
      {"PeerAuthentication", "security.istio.io/v1",
       "/apis/security.istio.io/v1/peerauthentications", ""},
      {"DestinationRule", "networking.istio.io/v1", "/apis/networking.istio.io/v1/destinationrules",
       ""},
  };
  const auto slash = mesh_config.find('/');
  if (!mesh_config.empty() && slash != std::string::npos) {
    resources.push_back({"ConfigMap", "v1",
                         "/api/v1/namespaces/" + mesh_config.substr(0, slash) + "/configmaps",
                         "metadata.name=" + mesh_config.substr(slash + 1)});
  }
  return resources;
}

std::optional<std::string> checkMeshConfigRef(const std::string& reference) {
  const auto slash = reference.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == reference.size() ||
      reference.find('/', slash + 1) != std::string::npos) {
    return "expected NAMESPACE/NAME, e.g. istio-system/istio";
  }
  const std::string name = reference.substr(slash + 1);
  if (name != "istio" && name != "peergate-mesh") {
    return "the mesh ConfigMap must be named istio or peergate-mesh (its data.mesh is read), "
           "got \"" +
           name + "\"";
  }
  return std::nullopt;
}

ClusterWatcherMetrics::ClusterWatcherMetrics(MetricsRegistry& registry)
    : lists(registry.counter("peergate_cluster_state_lists_total",
                             "Complete paged LISTs of a watched kind, by result (success, error).",
                             {"kind", "result"})),
      watches(registry.counter(
          "peergate_cluster_state_watches_total",
          "WATCH requests by how they ended (closed by the server, expired, error).",
          {"kind", "result"})),
      events(registry.counter("peergate_cluster_state_watch_events_total",
                              "Watch events received, by type.", {"kind", "type"})),
      relists(registry.counter(
          "peergate_cluster_state_relists_total",
          "LISTs after the first one, by reason (expired: 410 Gone; stream: unreadable stream).",
          {"kind", "reason"})),
      decode_failures(registry.counter(
          "peergate_cluster_state_decode_failures_total",
          "Watched objects the engine decoder rejected; they are left out of the state.",
          {"kind"})),
      in_sync(registry.gauge("peergate_cluster_state_in_sync",
                             "1 while the kind is listed and its watch is current, else 0.",
                             {"kind"})) {}

ClusterWatcher::ClusterWatcher(std::shared_ptr<KubeClient> client, ClusterWatcherOptions options,
                               ServerMetrics& metrics, ClusterWatcherMetrics& watcher_metrics)
    : client_(std::move(client)),
      options_(std::move(options)),
      metrics_(metrics),
      watcher_metrics_(watcher_metrics) {
  for (const WatchedResource& resource : options_.resources) {
    KindState state;
    state.resource = resource;
    state.stats.kind = resource.kind;
    kinds_.push_back(std::move(state));
  }
}

ClusterWatcher::~ClusterWatcher() { stop(); }

bool ClusterWatcher::start(StateStore& store, std::string& error) {
  if (!client_->valid(&error)) return false;
  std::lock_guard lock(mutex_);
  if (!threads_.empty()) return true;
  store_ = &store;
  stopping_ = false;
  logEvent(spdlog::level::info, "watching the Kubernetes API",
           {{"server", client_->config().server},
            {"origin", client_->config().origin},
            {"kinds", kinds_.size()}});
  for (std::size_t i = 0; i < kinds_.size(); ++i) {
    watcher_metrics_.in_sync.set({kinds_[i].resource.kind}, 0);
    threads_.emplace_back([this, i] { run(i); });
  }
  threads_.emplace_back([this] { publishLoop(); });
  return true;
}

void ClusterWatcher::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  changed_.notify_all();
  wake_.notify_all();
  if (threads.empty()) return;
  // A request that was still connecting when cancel() ran cannot be interrupted yet: cancel
  // again until every worker has left its request.
  for (;;) {
    client_->cancel();
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(50),
                       [this] { return exited_ >= kinds_.size(); })) {
      break;
    }
  }
  for (std::thread& thread : threads) thread.join();
}

ClusterWatcher::Stats ClusterWatcher::stats() const {
  std::lock_guard lock(mutex_);
  Stats stats;
  stats.publishes = publishes_;
  for (const KindState& kind : kinds_) {
    KindStats each = kind.stats;
    each.objects = kind.cache.size();
    stats.kinds.push_back(std::move(each));
  }
  return stats;
}

std::optional<ClusterWatcher::Decoded> ClusterWatcher::decode(std::size_t index, json& object) {
  const WatchedResource& resource = kinds_[index].resource;  // immutable after construction
  // Items of built-in lists carry no kind/apiVersion (kubernetes/kubernetes#3030).
  if (object.is_object()) {
    if (!object.contains("kind")) object["kind"] = resource.kind;
    if (!object.contains("apiVersion")) object["apiVersion"] = resource.api_version;
  }
  const std::string key = keyOf(object);
  validation::SourceLocation where;
  where.file = resource.kind + " " + (key.empty() ? "(no name)" : key);
  validation::Inputs inputs;
  const validation::DecodeOutcome outcome = validation::decodeObjectInto(object, where, inputs);
  std::optional<Decoded> decoded;
  if (outcome.ok()) {
    if (auto value = takeOnly(inputs.namespaces)) {
      decoded = std::move(*value);
    } else if (auto workload = takeOnly(inputs.workloads)) {
      decoded = std::move(*workload);
    } else if (auto service = takeOnly(inputs.services)) {
      decoded = std::move(*service);
    } else if (auto policy = takeOnly(inputs.peer_authentications)) {
      decoded = std::move(*policy);
    } else if (auto rule = takeOnly(inputs.destination_rules)) {
      decoded = std::move(*rule);
    } else if (inputs.mesh.from_input) {
      decoded = std::move(inputs.mesh);
    }
    return decoded;  // nullopt: a kind the engine does not read (counted as skipped)
  }
  std::uint64_t failures = 0;
  {
    std::lock_guard lock(mutex_);
    failures = ++kinds_[index].stats.decode_failures;
  }
  watcher_metrics_.decode_failures.inc({resource.kind});
  if (failures <= kLoggedDecodeFailures || failures % 100 == 0) {
    logEvent(spdlog::level::warn, "cluster object left out: the decoder rejected it",
             {{"kind", resource.kind},
              {"object", key},
              {"error", outcome.errors.front().describe()},
              {"errors", outcome.errors.size()},
              {"failures_of_kind", failures}});
  }
  return std::nullopt;
}

void ClusterWatcher::markOutOfSync(std::size_t index, const std::string& error) {
  std::lock_guard lock(mutex_);
  KindStats& stats = kinds_[index].stats;
  stats.in_sync = false;
  stats.last_error = error;
  ++stats.consecutive_failures;
  watcher_metrics_.in_sync.set({kinds_[index].resource.kind}, 0);
}

bool ClusterWatcher::waitBackoff(std::size_t index) {
  std::unique_lock lock(mutex_);
  const int failures = std::max(1, kinds_[index].stats.consecutive_failures);
  auto delay = options_.initial_backoff;
  for (int i = 1; i < failures && delay < options_.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, options_.max_backoff);
  // Jitter: anywhere in [delay/2, delay], so replicas restarted together spread out.
  thread_local std::mt19937_64 random(std::random_device{}());
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<long long> spread(0, std::max<long long>(half, 0));
  const std::chrono::milliseconds wait(delay.count() - half + spread(random));
  return !wake_.wait_for(lock, wait, [this] { return stopping_; });
}

ClusterWatcher::ListOutcome ClusterWatcher::listKind(std::size_t index) {
  const WatchedResource& resource = kinds_[index].resource;
  const auto started = Clock::now();
  Cache fresh;
  KubeClient::ListCallbacks callbacks;
  callbacks.on_item = [&](json& item) {
    const std::string key = keyOf(item);
    std::optional<Decoded> decoded = decode(index, item);
    if (decoded && !key.empty()) fresh.insert_or_assign(key, std::move(*decoded));
    std::lock_guard lock(mutex_);
    return !stopping_;
  };
  callbacks.on_restart = [&] {
    fresh.clear();
    logEvent(spdlog::level::info, "list continue token expired; listing again from the start",
             {{"kind", resource.kind}});
  };
  const std::string query =
      resource.field_selector.empty()
          ? std::string{}
          : "fieldSelector=" + KubeClient::encodeQueryValue(resource.field_selector);
  KubeClient::ListResult result = client_->list(resource.path, query, callbacks);
  if (result.error && result.error->kind == KubeError::Kind::Cancelled) {
    return ListOutcome::Failed;
  }
  if (result.error && result.error->kind == KubeError::Kind::Http && result.error->status == 404 &&
      resource.path.starts_with("/apis/")) {
    // The group/resource is not served: no CRD, so no such objects. Ready without them, and
    // look again later in case the CRD gets installed.
    bool first = false;
    {
      std::lock_guard lock(mutex_);
      KindState& kind = kinds_[index];
      first = !kind.stats.absent;
      if (!kind.cache.empty() || !kind.stats.listed) dirty_ = true;
      kind.cache.clear();
      kind.stats.resource_version.clear();
      kind.stats.listed = true;
      kind.stats.in_sync = true;
      kind.stats.absent = true;
      kind.stats.consecutive_failures = 0;
      kind.stats.last_error = "not served by the API server (404)";
    }
    watcher_metrics_.lists.inc({resource.kind, "absent"});
    watcher_metrics_.in_sync.set({resource.kind}, 1);
    changed_.notify_all();
    if (first) {
      logEvent(
          spdlog::level::warn,
          "resource not served by the API server (CRD not installed?); treated as empty",
          {{"kind", resource.kind},
           {"path", resource.path},
           {"recheck_seconds", static_cast<double>(options_.absent_recheck.count()) / 1000.0}});
    }
    return ListOutcome::Absent;
  }
  if (result.error) {
    watcher_metrics_.lists.inc({resource.kind, "error"});
    const std::string message = "list " + resource.path + ": " + result.error->describe();
    markOutOfSync(index, message);
    recordSyncError(metrics_);
    logEvent(spdlog::level::warn, "cluster state list failed",
             {{"kind", resource.kind}, {"error", message}});
    return ListOutcome::Failed;
  }
  const std::size_t objects = fresh.size();
  {
    std::lock_guard lock(mutex_);
    KindState& kind = kinds_[index];
    kind.cache = std::move(fresh);
    kind.stats.resource_version = result.resource_version;
    kind.stats.listed = true;
    kind.stats.in_sync = true;
    kind.stats.absent = false;
    kind.stats.consecutive_failures = 0;
    kind.stats.last_error.clear();
    ++kind.stats.lists;
    dirty_ = true;
  }
  watcher_metrics_.lists.inc({resource.kind, "success"});
  watcher_metrics_.in_sync.set({resource.kind}, 1);
  changed_.notify_all();
  logEvent(spdlog::level::info, "cluster state listed",
           {{"kind", resource.kind},
            {"objects", objects},
            {"pages", result.pages},
            {"restarts", result.restarts},
            {"resource_version", result.resource_version},
            {"ms", millisOf(Clock::now() - started)}});
  return ListOutcome::Listed;
}

bool ClusterWatcher::watchKind(std::size_t index) {
  const WatchedResource& resource = kinds_[index].resource;
  std::string resource_version;
  {
    std::lock_guard lock(mutex_);
    resource_version = kinds_[index].stats.resource_version;
  }
  bool expired = false;
  std::optional<KubeError> event_error;
  std::uint64_t delivered = 0;  // changes and bookmarks

  auto on_open = [&] {
    {
      std::lock_guard lock(mutex_);
      KindStats& stats = kinds_[index].stats;
      ++stats.watches;
      stats.in_sync = true;
    }
    watcher_metrics_.in_sync.set({resource.kind}, 1);
    changed_.notify_all();
  };
  auto on_event = [&](json& event) {
    const std::string type = stringMember(event, "type");
    json* object = event.is_object() && event.contains("object") ? &event["object"] : nullptr;
    watcher_metrics_.events.inc({resource.kind, type.empty() ? "unknown" : type});
    if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
      if (object == nullptr || !object->is_object()) {
        event_error = KubeError{KubeError::Kind::Decode, 0, "", type + " event without an object"};
        return false;
      }
      const std::string key = keyOf(*object);
      const std::string version = resourceVersionOf(*object);
      std::optional<Decoded> decoded;
      if (type != "DELETED") decoded = decode(index, *object);
      {
        std::lock_guard lock(mutex_);
        KindState& kind = kinds_[index];
        if (!key.empty()) {
          if (decoded) {
            kind.cache.insert_or_assign(key, std::move(*decoded));
          } else {
            // DELETED, or an object the decoder rejects: an old version must not linger.
            kind.cache.erase(key);
          }
        }
        if (!version.empty()) kind.stats.resource_version = version;
        ++kind.stats.events;
        kind.stats.consecutive_failures = 0;  // the watch delivers
        dirty_ = true;
      }
      ++delivered;
      changed_.notify_all();
      return !stopping();
    }
    if (type == "BOOKMARK") {
      const std::string version = object != nullptr ? resourceVersionOf(*object) : "";
      ++delivered;
      std::lock_guard lock(mutex_);
      if (!version.empty()) kinds_[index].stats.resource_version = version;
      ++kinds_[index].stats.bookmarks;
      kinds_[index].stats.consecutive_failures = 0;
      return !stopping_;
    }
    if (type == "ERROR") {
      KubeError error = statusError(object != nullptr ? *object : json(), 500);
      if (error.expired()) {
        expired = true;
      } else {
        event_error = std::move(error);
      }
      return false;  // the server closes the stream after an ERROR anyway
    }
    event_error =
        KubeError{KubeError::Kind::Decode, 0, "", "unknown watch event type \"" + type + "\""};
    return false;
  };

  const auto started = Clock::now();
  KubeClient::WatchResult result =
      client_->watch(resource.path,
                     resource.field_selector.empty()
                         ? std::string{}
                         : "fieldSelector=" + KubeClient::encodeQueryValue(resource.field_selector),
                     resource_version, options_.watch_timeout_seconds, on_open, on_event);
  if (result.error && result.error->kind == KubeError::Kind::Cancelled) return false;
  const Clock::duration lasted = Clock::now() - started;
  if (result.opened && (delivered > 0 || lasted >= kProductiveWatch)) {
    // The watch worked for a while: a later failure starts the backoff from the beginning.
    std::lock_guard lock(mutex_);
    kinds_[index].stats.consecutive_failures = 0;
  }
  if (expired || (result.error && result.error->expired())) {
    // 410: the resourceVersion is gone (compacted); only a new list can continue.
    watcher_metrics_.watches.inc({resource.kind, "expired"});
    watcher_metrics_.relists.inc({resource.kind, "expired"});
    {
      std::lock_guard lock(mutex_);
      ++kinds_[index].stats.relists_expired;
      kinds_[index].stats.in_sync = false;
    }
    watcher_metrics_.in_sync.set({resource.kind}, 0);
    logEvent(spdlog::level::info, "watch resourceVersion expired; listing again",
             {{"kind", resource.kind}, {"resource_version", resource_version}});
    return true;
  }
  std::optional<KubeError> failure = event_error ? event_error : result.error;
  if (failure) {
    watcher_metrics_.watches.inc({resource.kind, "error"});
    const std::string message = "watch " + resource.path + ": " + failure->describe();
    markOutOfSync(index, message);
    logEvent(spdlog::level::warn, "cluster state watch failed; retrying with backoff",
             {{"kind", resource.kind}, {"error", message}, {"resource_version", resource_version}});
    // A line that could not be read may have been a change: the cache can no longer be trusted.
    // 404: the resource went away (CRD deleted); a list finds out whether it is absent.
    const bool relist = failure->kind == KubeError::Kind::Decode ||
                        failure->kind == KubeError::Kind::TooLarge ||
                        (failure->kind == KubeError::Kind::Http && failure->status == 404);
    if (relist) watcher_metrics_.relists.inc({resource.kind, "stream"});
    if (!waitBackoff(index)) return false;
    return relist;
  }
  watcher_metrics_.watches.inc({resource.kind, "closed"});
  if (delivered == 0 && lasted < kShortWatch) {
    {
      std::lock_guard lock(mutex_);
      ++kinds_[index].stats.consecutive_failures;
    }
    waitBackoff(index);
  }
  return false;  // re-watch from the last resourceVersion
}

bool ClusterWatcher::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void ClusterWatcher::run(std::size_t index) {
  bool need_list = true;
  while (!stopping()) {
    if (need_list) {
      const ListOutcome listed = listKind(index);
      if (listed == ListOutcome::Failed) {
        if (!waitBackoff(index)) break;
        continue;
      }
      if (listed == ListOutcome::Absent) {
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, options_.absent_recheck, [this] { return stopping_; })) break;
        continue;
      }
      need_list = false;
    }
    need_list = watchKind(index);
  }
  {
    std::lock_guard lock(mutex_);
    ++exited_;
  }
  wake_.notify_all();
}

StateStore::Snapshot ClusterWatcher::buildSnapshot() {
  validation::Inputs inputs;
  {
    std::lock_guard lock(mutex_);
    for (const KindState& kind : kinds_) {
      for (const auto& [key, decoded] : kind.cache) {
        std::visit(
            [&inputs](const auto& object) {
              using T = std::decay_t<decltype(object)>;
              if constexpr (std::is_same_v<T, validation::Namespace>) {
                inputs.namespaces.push_back(object);
              } else if constexpr (std::is_same_v<T, validation::Workload>) {
                inputs.workloads.push_back(object);
              } else if constexpr (std::is_same_v<T, validation::Service>) {
                inputs.services.push_back(object);
              } else if constexpr (std::is_same_v<T, validation::PeerAuthentication>) {
                inputs.peer_authentications.push_back(object);
              } else if constexpr (std::is_same_v<T, validation::DestinationRule>) {
                inputs.destination_rules.push_back(object);
              } else {
                inputs.mesh = object;
              }
            },
            decoded);
      }
    }
    dirty_ = false;
  }
  return std::make_shared<const validation::ClusterState>(std::move(inputs));
}

void ClusterWatcher::publishLoop() {
  std::unique_lock lock(mutex_);
  Clock::time_point last_publish{};
  Clock::time_point last_confirm = Clock::now();
  Clock::duration interval = options_.publish_interval;
  auto allInSync = [this] {
    return std::all_of(kinds_.begin(), kinds_.end(), [](const KindState& kind) {
      return kind.stats.listed && kind.stats.in_sync;
    });
  };
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    const bool in_sync = allInSync();
    if (in_sync && dirty_) {
      const Clock::time_point due = last_publish + interval;
      if (now < due) {
        changed_.wait_until(lock, due, [this] { return stopping_; });
        continue;
      }
      const bool first = publishes_ == 0;
      lock.unlock();
      const auto started = Clock::now();
      StateStore::Snapshot snapshot = buildSnapshot();
      const auto built = Clock::now() - started;
      const validation::Inputs& inputs = snapshot->inputs();
      if (first) {
        logEvent(spdlog::level::info, "cluster state synced: every kind listed",
                 {{"namespaces", inputs.namespaces.size()},
                  {"workloads", inputs.workloads.size()},
                  {"services", inputs.services.size()},
                  {"peer_authentications", inputs.peer_authentications.size()},
                  {"destination_rules", inputs.destination_rules.size()},
                  {"build_ms", millisOf(built)}});
      }
      publishSnapshot(*store_, metrics_, std::move(snapshot));
      lock.lock();
      ++publishes_;
      last_publish = Clock::now();
      last_confirm = last_publish;
      // A big state takes a while to index: never spend more than half the time building.
      interval = std::max<Clock::duration>(options_.publish_interval, 2 * built);
      continue;
    }
    if (in_sync && publishes_ > 0 && now - last_confirm >= options_.confirm_interval) {
      lock.unlock();
      publishConfirmed(*store_, metrics_);
      lock.lock();
      last_confirm = Clock::now();
      continue;
    }
    const Clock::time_point wake = in_sync && publishes_ > 0
                                       ? last_confirm + options_.confirm_interval
                                       : now + options_.confirm_interval;
    changed_.wait_until(lock, wake,
                        [this, &allInSync] { return stopping_ || (dirty_ && allInSync()); });
  }
}

}  // namespace peergate::webhook
