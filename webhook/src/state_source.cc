#include "peergate/webhook/state_source.h"

#include <chrono>

namespace peergate::webhook {
namespace {

double unixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

void publishSnapshot(StateStore& store, ServerMetrics& metrics, StateStore::Snapshot snapshot) {
  if (!snapshot) return;
  const validation::Inputs& inputs = snapshot->inputs();
  metrics.cluster_state_objects.set({"Namespace"}, static_cast<double>(inputs.namespaces.size()));
  metrics.cluster_state_objects.set({"Workload"}, static_cast<double>(inputs.workloads.size()));
  metrics.cluster_state_objects.set({"PeerAuthentication"},
                                    static_cast<double>(inputs.peer_authentications.size()));
  metrics.cluster_state_objects.set({"Service"}, static_cast<double>(inputs.services.size()));
  metrics.cluster_state_objects.set({"DestinationRule"},
                                    static_cast<double>(inputs.destination_rules.size()));
  store.publish(std::move(snapshot));
  metrics.cluster_state_syncs.inc({"success"});
  metrics.cluster_state_last_sync.set(unixNow());
}

void publishConfirmed(StateStore& store, ServerMetrics& metrics) {
  StateStore::Snapshot current = store.current();
  if (!current) return;
  store.publish(std::move(current));
  metrics.cluster_state_last_sync.set(unixNow());
}

void recordSyncError(ServerMetrics& metrics) { metrics.cluster_state_syncs.inc({"error"}); }

}  // namespace peergate::webhook
