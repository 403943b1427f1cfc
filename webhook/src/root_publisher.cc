#include "root_publisher.h"

#include "kube_client.h"
#include "peergate/webhook/decision_log.h"

namespace peergate::webhook {
namespace {

bool isKubernetesSystemNamespace(const std::string& ns) {
  return ns == "kube-system" || ns == "kube-public" || ns == "kube-node-lease";
}

}  // namespace

RootPublisher::RootPublisher(std::shared_ptr<KubeClient> client, const StateStore& store,
                             std::function<std::string()> roots, MetricsRegistry& registry,
                             RootPublisherOptions options)
    : client_(std::move(client)),
      store_(store),
      roots_(std::move(roots)),
      options_(std::move(options)),
      published_(registry.counter("peergate_ca_root_publications_total",
                                  "Writes of the mesh root ConfigMap into namespaces, by result "
                                  "(created, updated, error)",
                                  {"result"})),
      last_resync_(std::chrono::steady_clock::now()) {}

RootPublisher::~RootPublisher() { stop(); }

bool RootPublisher::publish(const std::string& ns, const std::string& roots) {
  const std::string collection = "/api/v1/namespaces/" + ns + "/configmaps";
  const nlohmann::json object = {{"apiVersion", "v1"},
                                 {"kind", "ConfigMap"},
                                 {"metadata",
                                  {{"name", options_.config_map},
                                   {"namespace", ns},
                                   {"labels", {{"app.kubernetes.io/managed-by", "peergate"}}}}},
                                 {"data", {{options_.key, roots}}}};
  KubeClient::CreateResult created = client_->create(collection, object);
  if (!created.error) {
    published_.inc({"created"});
    return true;
  }
  if (created.error->status == 409) {
    KubeClient::CreateResult updated =
        client_->replace(collection + "/" + options_.config_map, object);
    if (!updated.error) {
      published_.inc({"updated"});
      return true;
    }
    created.error = updated.error;
  }
  published_.inc({"error"});
  logEvent(spdlog::level::warn, "cannot publish the mesh root ConfigMap; will retry",
           {{"namespace", ns}, {"error", created.error->describe()}});
  return false;
}

int RootPublisher::publishOnce() {
  const StateStore::Snapshot state = store_.current();
  if (!state) return 0;
  const std::string roots = roots_();
  if (std::chrono::steady_clock::now() - last_resync_ > options_.resync) {
    done_.clear();
    last_resync_ = std::chrono::steady_clock::now();
  }
  int failed = 0;
  for (const validation::Namespace* ns : state->objects().namespaces) {
    const std::string& name = ns->meta.name;
    if (isKubernetesSystemNamespace(name)) continue;
    auto it = done_.find(name);
    if (it != done_.end() && it->second == roots) continue;
    if (publish(name, roots)) {
      done_[name] = roots;
    } else {
      ++failed;
    }
  }
  return failed;
}

void RootPublisher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void RootPublisher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RootPublisher::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    publishOnce();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

}  // namespace peergate::webhook
