#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peergate/proxy/config_source.h"
#include "peergate/proxy/options.h"
#include "peergate/proxy/proxy_policy.h"
#include "peergate/proxy/proxy_stats.h"
#include "peergate/proxy/tls_contexts.h"

namespace peergate::proxy {

// The local-mode control plane: the policy from `--cluster-state` and the TLS material from
// `--certs`, loaded at start and re-read when the files change (polled on a background thread,
// so decoding a large state never stalls the event loop). A change reaches NEW connections only:
// a connection takes both snapshots once, when it starts. A change that does not load is logged
// and the previous snapshot stays.
class ConfigWatcher final : public ConfigSource {
 public:
  ConfigWatcher(const ProxyOptions& options, ProxyStats& stats);
  ~ConfigWatcher() override;
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // The first load; false with `error` set (a startup error).
  bool loadInitial(std::string& error) override;
  void startWatching() override;
  void stop() override;
  // One poll, as the background thread does it; true when something was swapped in.
  bool pollOnce();

  std::shared_ptr<const ProxyPolicy> policy() const override;
  std::shared_ptr<const TlsContexts> tls() const override;

 private:
  struct FileStamp {
    std::string path;
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uintmax_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::vector<FileStamp> stampPolicyFiles() const;
  bool reloadPolicy();
  bool reloadCerts();
  void watchLoop();

  const ProxyOptions& options_;
  ProxyStats& stats_;

  mutable std::mutex mutex_;
  std::shared_ptr<const ProxyPolicy> policy_;
  std::shared_ptr<const TlsContexts> tls_;

  // Only the polling thread (or a test calling pollOnce) touches these.
  std::vector<FileStamp> policy_stamp_;
  std::string failed_certs_;  // content that failed to load, logged once

  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace peergate::proxy
