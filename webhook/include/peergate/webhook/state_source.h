#pragma once

#include <string>
#include <string_view>

#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

// Where the cluster state comes from: static files (`--cluster-state`, static_state.h) or the
// Kubernetes API (list+watch). A source publishes complete, immutable snapshots into the
// StateStore; admission only ever reads the store, so it never waits on a source.
//
// Readiness reads the store: ready after the first publish, stale when the last publish is older
// than `maxStalenessSeconds`. A source therefore re-publishes (publishConfirmed) whenever it has
// confirmed that its snapshot is still current (a static file unchanged, a watch bookmark).
class StateSource {
 public:
  virtual ~StateSource() = default;

  // Starts syncing into `store` (a source may publish its first snapshot before returning).
  // False, with `error` set, only for a configuration that can never sync (the process exits).
  virtual bool start(StateStore& store, std::string& error) = 0;
  // Stops background work; idempotent; the store keeps the last snapshot.
  virtual void stop() = 0;
  // "static" or "kubernetes", for logs.
  virtual std::string_view name() const = 0;
};

// Publishes a new complete snapshot and records it: syncs_total{result="success"}, the objects
// gauge per kind and the last-sync timestamp.
void publishSnapshot(StateStore& store, ServerMetrics& metrics, StateStore::Snapshot snapshot);
// Re-publishes the current snapshot after confirming it is still current (refreshes staleness
// and the last-sync timestamp; counts nothing).
void publishConfirmed(StateStore& store, ServerMetrics& metrics);
// Records a failed sync: syncs_total{result="error"}; the store keeps its snapshot.
void recordSyncError(ServerMetrics& metrics);

}  // namespace peergate::webhook
