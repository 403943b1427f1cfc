#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "peergate/validation/injection.h"
#include "peergate/validation/model.h"

namespace peergate::validation {

// The objects a ClusterState reads, by address, in input order. A review's before/after states
// select a few of the snapshot's objects instead of copying them (validate_handler.cc).
struct ObjectSelection {
  std::vector<const PeerAuthentication*> peer_authentications;
  std::vector<const Namespace*> namespaces;
  std::vector<const Workload*> workloads;
  std::vector<const Service*> services;
  std::vector<const DestinationRule*> destination_rules;
};

// Workloads without a proxy (neither sidecar nor ambient) outside the system namespaces: the
// plaintext clients a STRICT policy would cut off.
struct UnmeshedClients {
  std::size_t count = 0;
  std::vector<std::string> first;  // "ns/name", by namespace then name, at most the asked number
};

// An immutable, indexed view of Inputs: what resolution and the analyzers query. Built once
// (linear in the input), then shared read-only (the webhook swaps whole snapshots).
class ClusterState {
 public:
  // Owns the objects.
  explicit ClusterState(Inputs inputs);
  // Reads objects owned elsewhere: `owners` keep every selected object alive (a snapshot, the
  // request's objects) for as long as this state lives. `decided`, when given, is a state the
  // objects were selected from: a workload it decided in the same context (mesh, namespace
  // object, folded instances) keeps that dataplane decision instead of being decided again.
  ClusterState(ObjectSelection objects, MeshConfig mesh,
               std::vector<std::shared_ptr<const void>> owners,
               const ClusterState* decided = nullptr);
  // Indexes point into inputs_: moving keeps them valid, copying would not.
  ClusterState(const ClusterState&) = delete;
  ClusterState& operator=(const ClusterState&) = delete;
  ClusterState(ClusterState&&) = default;
  ClusterState& operator=(ClusterState&&) = default;

  // The Inputs an owning state was built from; empty for a selection (read objects() instead).
  const Inputs& inputs() const { return inputs_; }
  // Every object of the state, owned or selected, in input order.
  const ObjectSelection& objects() const { return objects_; }
  const MeshConfig& mesh() const { return inputs_.mesh; }

  // Workloads after folding: Pods owned by a controller present in the input, and ReplicaSets
  // owned by a Deployment, are represented by that controller.
  const std::vector<const Workload*>& workloads() const { return workloads_; }
  // Pods (and ReplicaSets) folded into a workload, for instance checks.
  const std::vector<const Workload*>& instancesOf(const Workload& workload) const;
  const DataplaneDecision& dataplane(const Workload& workload) const;

  const Namespace* findNamespace(const std::string& name) const;
  // Every namespace that appears anywhere in the input (declared or only referenced), sorted.
  const std::vector<std::string>& namespaceNames() const { return namespace_names_; }
  const std::vector<const Workload*>& workloadsIn(const std::string& ns) const;
  const std::vector<const PeerAuthentication*>& policiesIn(const std::string& ns) const;
  const std::vector<const Service*>& servicesIn(const std::string& ns) const;
  const Service* findService(const std::string& ns, const std::string& name) const;
  // DestinationRules that may apply to services of `namespaces`: the rules in them, the rules
  // whose host names one of them as a dot-separated label ("svc.ns", "svc.ns.svc.cluster.local")
  // and wildcard hosts. A superset (a short host "reviews" is indexed under "reviews"), in input
  // order, found through an index: the webhook asks this on every review.
  std::vector<const DestinationRule*> destinationRulesReaching(
      const std::set<std::string>& namespaces) const;

  // A selection of `whole` that holds only `inside` (the namespaces a review reaches): questions
  // about the rest of the cluster are answered from `whole`, which must outlive this state (a
  // review's state keeps its snapshot among its owners).
  void standFor(const ClusterState& whole, std::set<std::string> inside);
  // Unmeshed clients in this state, and in `whole` outside `inside` after standFor.
  UnmeshedClients unmeshedClients(std::size_t max_names) const;

 private:
  void index(const ClusterState* decided);
  DataplaneDecision decideFor(const Workload& workload) const;
  DataplaneDecision decideLike(const ClusterState& decided, const Workload& workload) const;
  void indexDestinationRules();
  void indexUnmeshed();

  Inputs inputs_;
  ObjectSelection objects_;
  std::vector<std::shared_ptr<const void>> owners_;
  std::vector<const Workload*> workloads_;
  std::map<const Workload*, std::vector<const Workload*>> instances_;
  std::map<const Workload*, DataplaneDecision> dataplane_;
  std::map<std::string, const Namespace*> namespaces_;
  std::vector<std::string> namespace_names_;
  std::map<std::string, std::vector<const Workload*>> workloads_by_ns_;
  std::map<std::string, std::vector<const PeerAuthentication*>> policies_by_ns_;
  std::map<std::string, std::vector<const Service*>> services_by_ns_;
  // Positions in objects_.destination_rules.
  std::map<std::string, std::vector<std::size_t>, std::less<>> rules_by_label_;
  std::vector<std::size_t> wildcard_rules_;
  // Unmeshed workloads by namespace, each list sorted by name.
  std::map<std::string, std::vector<const Workload*>> unmeshed_by_ns_;
  std::size_t unmeshed_count_ = 0;
  const ClusterState* whole_ = nullptr;
  std::set<std::string> inside_;
};

// Labels match when every selector label is present with the same value.
bool selectorMatches(const Labels& selector, const Labels& labels);

}  // namespace peergate::validation
