#include "review_cache.h"

#include <utility>

namespace peergate::webhook {

std::shared_ptr<const validation::Analysis> ReviewCache::find(const Snapshot& snapshot,
                                                              const Scope& scope) const {
  std::lock_guard lock(mutex_);
  if (snapshot_.lock() != snapshot) return nullptr;
  const auto it = entries_.find(scope);
  return it == entries_.end() ? nullptr : it->second;
}

void ReviewCache::put(const Snapshot& snapshot, Scope scope,
                      std::shared_ptr<const validation::Analysis> analysis) {
  std::lock_guard lock(mutex_);
  if (snapshot_.lock() != snapshot || entries_.size() >= max_entries_) {
    entries_.clear();
    snapshot_ = snapshot;
  }
  entries_.insert_or_assign(std::move(scope), std::move(analysis));
}

std::size_t ReviewCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace peergate::webhook
