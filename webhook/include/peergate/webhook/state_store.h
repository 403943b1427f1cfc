#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
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
    {
      std::lock_guard lock(mutex_);
      if (snapshot != current_) ++generation_;
      current_ = std::move(snapshot);
      last_sync_ = Clock::now();
    }
    changed_.notify_all();
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

  // Counts snapshot changes (a re-published, confirmed snapshot is no change).
  std::uint64_t generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
  }
  // Blocks until the generation differs from `seen` or `timeout` passes; the generation then.
  std::uint64_t waitForChange(std::uint64_t seen, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return generation_ != seen; });
    return generation_;
  }

 private:
  mutable std::mutex mutex_;
  Snapshot current_;
  Clock::time_point last_sync_{};
  std::uint64_t generation_ = 0;
  mutable std::condition_variable changed_;
};

}  // namespace peergate::webhook
