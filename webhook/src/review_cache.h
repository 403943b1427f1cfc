#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "peergate/validation/analyze.h"
#include "peergate/validation/cluster_state.h"

namespace peergate::webhook {

// The analysis of a review's `before` state depends only on the snapshot and on the namespaces
// the change reaches when the request carries no oldObject (a CREATE): the reviews between two
// snapshots that reach the same namespaces share it instead of analysing it again. An analysis
// points into its snapshot's objects, so the cache holds the snapshot weakly and answers only a
// caller that holds that same snapshot.
class ReviewCache {
 public:
  using Snapshot = std::shared_ptr<const validation::ClusterState>;
  using Scope = std::set<std::string>;

  explicit ReviewCache(std::size_t max_entries = 512) : max_entries_(max_entries) {}

  std::shared_ptr<const validation::Analysis> find(const Snapshot& snapshot,
                                                   const Scope& scope) const;
  // Entries of an older snapshot are dropped; a full cache starts over (the scopes a cluster
  // sees between two snapshots are few, so this is rare).
  void put(const Snapshot& snapshot, Scope scope,
           std::shared_ptr<const validation::Analysis> analysis);
  std::size_t size() const;

 private:
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::weak_ptr<const validation::ClusterState> snapshot_;
  std::map<Scope, std::shared_ptr<const validation::Analysis>> entries_;
};

}  // namespace peergate::webhook
