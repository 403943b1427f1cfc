#include "peergate/proxy/config_watcher.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

namespace peergate::proxy {

ConfigWatcher::ConfigWatcher(const ProxyOptions& options, ProxyStats& stats)
    : options_(options), stats_(stats) {}

ConfigWatcher::~ConfigWatcher() { stop(); }

bool ConfigWatcher::loadInitial(std::string& error) {
  policy_stamp_ = stampPolicyFiles();
  validation::Result<ProxyPolicy> policy = loadProxyPolicy(
      options_.cluster_state, options_.pod_namespace, options_.pod_name, options_.trust_domain);
  if (!policy) {
    error = "--cluster-state: " + policy.error().describe();
    return false;
  }
  std::shared_ptr<const TlsContexts> tls = TlsContexts::load(options_.certs_dir, error);
  if (!tls) {
    error = "--certs: " + error;
    return false;
  }
  spdlog::info("policy loaded for {}/{}: {}; {} destinations with a proxy", options_.pod_namespace,
               options_.pod_name, describeModes(policy.value()),
               policy.value().peers->proxied_peers.size());
  spdlog::info("workload certificate loaded: {}", tls->info().spiffe_id);
  stats_.setCertExpiry(tls->info().not_after);
  std::lock_guard lock(mutex_);
  policy_ = std::make_shared<const ProxyPolicy>(std::move(policy).value());
  tls_ = std::move(tls);
  return true;
}

std::vector<ConfigWatcher::FileStamp> ConfigWatcher::stampPolicyFiles() const {
  std::vector<FileStamp> stamps;
  for (const std::filesystem::path& file : clusterStateFiles(options_.cluster_state)) {
    struct stat info {};
    FileStamp stamp{file.string()};
    if (::stat(stamp.path.c_str(), &info) == 0) {
      stamp.size = static_cast<std::uintmax_t>(info.st_size);
      stamp.mtime_ns =
          static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
      stamp.inode = info.st_ino;
    }
    stamps.push_back(std::move(stamp));
  }
  return stamps;
}

bool ConfigWatcher::reloadPolicy() {
  std::vector<FileStamp> stamp = stampPolicyFiles();
  if (stamp == policy_stamp_) return false;
  policy_stamp_ = std::move(stamp);
  validation::Result<ProxyPolicy> policy = loadProxyPolicy(
      options_.cluster_state, options_.pod_namespace, options_.pod_name, options_.trust_domain);
  if (!policy) {
    spdlog::warn("cluster state reload failed; keeping the current policy: {}",
                 policy.error().describe());
    return false;
  }
  spdlog::info("policy reloaded: {}", describeModes(policy.value()));
  std::lock_guard lock(mutex_);
  policy_ = std::make_shared<const ProxyPolicy>(std::move(policy).value());
  return true;
}

bool ConfigWatcher::reloadCerts() {
  const std::string content = readCertsContent(options_.certs_dir);
  if (content.empty() || content == failed_certs_ || content == tls()->content()) return false;
  std::string error;
  std::shared_ptr<const TlsContexts> loaded = TlsContexts::load(options_.certs_dir, error);
  // The files may be read mid-rotation; the content check above retries the next poll.
  if (!loaded || loaded->content() != content) {
    failed_certs_ = content;
    spdlog::warn("certificate reload failed; keeping the current one: {}", error);
    return false;
  }
  failed_certs_.clear();
  spdlog::info("workload certificate reloaded: {}", loaded->info().spiffe_id);
  stats_.setCertExpiry(loaded->info().not_after);
  std::lock_guard lock(mutex_);
  tls_ = std::move(loaded);
  return true;
}

bool ConfigWatcher::pollOnce() {
  const bool policy_changed = reloadPolicy();
  const bool certs_changed = reloadCerts();
  return policy_changed || certs_changed;
}

void ConfigWatcher::startWatching() {
  std::lock_guard lock(watch_mutex_);
  if (watcher_.joinable()) return;
  stopping_ = false;
  watcher_ = std::thread([this] { watchLoop(); });
}

void ConfigWatcher::stop() {
  {
    std::lock_guard lock(watch_mutex_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void ConfigWatcher::watchLoop() {
  std::unique_lock lock(watch_mutex_);
  while (!stopping_) {
    watch_cv_.wait_for(lock, options_.reload_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    pollOnce();
    lock.lock();
  }
}

std::shared_ptr<const ProxyPolicy> ConfigWatcher::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

std::shared_ptr<const TlsContexts> ConfigWatcher::tls() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

}  // namespace peergate::proxy
