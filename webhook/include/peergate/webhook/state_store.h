#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "peergate/validation/cluster_state.h"

namespace peergate::webhook {

// The cluster state admission decisions read: an immutable snapshot swapped whole, so a request
// never waits on the watcher and never sees a half-applied update.
class StateStore {
 public:
  using Snapshot = std::shared_ptr<const validation::ClusterState>;
  using Clock = std::chrono::steady_clock;

  void publish(Snapshot snapshot) {
    std::lock_guard lock(mutex_);
    current_ = std::move(snapshot);
    last_sync_ = Clock::now();
  }
  Snapshot current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // Time of the last complete sync; nullopt-like epoch when never synced.
  Clock::time_point lastSync() const {
    std::lock_guard lock(mutex_);
    return last_sync_;
  }
  bool synced() const { return current() != nullptr; }

 private:
  mutable std::mutex mutex_;
  Snapshot current_;
  Clock::time_point last_sync_{};
};

}  // namespace peergate::webhook
