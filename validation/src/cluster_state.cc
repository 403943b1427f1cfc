#include "peergate/validation/cluster_state.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <string_view>
#include <tuple>

namespace peergate::validation {
namespace {

// ns, kind, name: views into the workloads, so that looking a controller up allocates nothing.
using ControllerKey = std::tuple<std::string_view, std::string_view, std::string_view>;

ControllerKey keyOf(const Workload& w) { return {w.meta.namespace_name, w.kind, w.meta.name}; }

// A ReplicaSet created by a Deployment is named "<deployment>-<pod-template-hash>", and a Job
// created by a CronJob "<cronjob>-<scheduled time>"; snapshots often omit the middle object.
std::string generatorName(const std::string& name, const std::string& suffix) {
  if (suffix.empty() || name.size() <= suffix.size() + 1) return "";
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return "";
  if (name[name.size() - suffix.size() - 1] != '-') return "";
  return name.substr(0, name.size() - suffix.size() - 1);
}

std::string trailingToken(const std::string& name) {
  auto dash = name.rfind('-');
  return dash == std::string::npos ? "" : name.substr(dash + 1);
}

}  // namespace

bool selectorMatches(const Labels& selector, const Labels& labels) {
  return std::all_of(selector.begin(), selector.end(), [&](const auto& entry) {
    auto it = labels.find(entry.first);
    return it != labels.end() && it->second == entry.second;
  });
}

template <typename T>
std::vector<const T*> addressesOf(const std::vector<T>& objects) {
  std::vector<const T*> out;
  out.reserve(objects.size());
  for (const T& object : objects) out.push_back(&object);
  return out;
}

ClusterState::ClusterState(Inputs inputs) : inputs_(std::move(inputs)) {
  objects_ = {addressesOf(inputs_.peer_authentications), addressesOf(inputs_.namespaces),
              addressesOf(inputs_.workloads), addressesOf(inputs_.services),
              addressesOf(inputs_.destination_rules)};
  index(nullptr);
}

ClusterState::ClusterState(ObjectSelection objects, MeshConfig mesh,
                           std::vector<std::shared_ptr<const void>> owners,
                           const ClusterState* decided)
    : objects_(std::move(objects)), owners_(std::move(owners)) {
  inputs_.mesh = std::move(mesh);
  index(decided && decided->mesh() == inputs_.mesh ? decided : nullptr);
}

void ClusterState::index(const ClusterState* decided) {
  std::map<ControllerKey, const Workload*> controllers;
  for (const Workload* w : objects_.workloads) {
    if (w->kind != "Pod") controllers.emplace(keyOf(*w), w);
  }
  auto lookup = [&](std::string_view ns, std::string_view kind,
                    std::string_view name) -> const Workload* {
    auto it = controllers.find({ns, kind, name});
    return it == controllers.end() ? nullptr : it->second;
  };
  // The top-level controller that stands for `w`, or `w` itself.
  auto representative = [&](const Workload& w) -> const Workload* {
    const Workload* current = &w;
    if (controllers.empty()) return current;  // e.g. a snapshot of Pods only
    for (int hop = 0; hop < 3 && !current->meta.owners.empty(); ++hop) {
      const auto& owner = current->meta.owners.front();
      const std::string& ns = current->meta.namespace_name;
      const Workload* next = lookup(ns, owner.kind, owner.name);
      if (!next && owner.kind == "ReplicaSet") {
        auto hash = current->pod_labels.find("pod-template-hash");
        std::string suffix = hash != current->pod_labels.end() ? hash->second : "";
        next = lookup(ns, "Deployment", generatorName(owner.name, suffix));
      }
      if (!next && owner.kind == "Job") {
        next = lookup(ns, "CronJob", generatorName(owner.name, trailingToken(owner.name)));
      }
      if (!next) break;
      current = next;
    }
    return current;
  };

  for (const Workload* w : objects_.workloads) {
    const Workload* rep = representative(*w);
    if (rep == w) {
      workloads_.push_back(w);
    } else {
      instances_[rep].push_back(w);
    }
  }

  for (const Namespace* ns : objects_.namespaces) namespaces_.emplace(ns->meta.name, ns);
  for (const Workload* w : workloads_) workloads_by_ns_[w->meta.namespace_name].push_back(w);
  for (const PeerAuthentication* pa : objects_.peer_authentications) {
    policies_by_ns_[pa->meta.namespace_name].push_back(pa);
  }
  for (const Service* svc : objects_.services) {
    services_by_ns_[svc->meta.namespace_name].push_back(svc);
  }

  for (const Workload* w : workloads_) {
    dataplane_.emplace(w, decided ? decideLike(*decided, *w) : decideFor(*w));
  }
  indexUnmeshed();
  indexDestinationRules();

  std::set<std::string> names;
  for (const auto& [name, ns] : namespaces_) names.insert(name);
  for (const auto& [name, list] : workloads_by_ns_) names.insert(name);
  for (const auto& [name, list] : policies_by_ns_) names.insert(name);
  for (const auto& [name, list] : services_by_ns_) names.insert(name);
  for (const DestinationRule* dr : objects_.destination_rules) {
    names.insert(dr->meta.namespace_name);
  }
  namespace_names_.assign(names.begin(), names.end());
}

void ClusterState::indexUnmeshed() {
  for (const auto& [w, decision] : dataplane_) {
    if (decision.sidecar || decision.ambient) continue;
    if (isSystemNamespace(w->meta.namespace_name, mesh())) continue;
    unmeshed_by_ns_[w->meta.namespace_name].push_back(w);
    ++unmeshed_count_;
  }
  for (auto& [ns, list] : unmeshed_by_ns_) {
    std::sort(list.begin(), list.end(),
              [](const Workload* a, const Workload* b) { return a->meta.name < b->meta.name; });
  }
}

void ClusterState::standFor(const ClusterState& whole, std::set<std::string> inside) {
  whole_ = &whole;
  inside_ = std::move(inside);
}

UnmeshedClients ClusterState::unmeshedClients(std::size_t max_names) const {
  using Lists = std::map<std::string, std::vector<const Workload*>>;
  static const Lists kNone;
  const Lists& mine = unmeshed_by_ns_;
  const Lists& outer = whole_ ? whole_->unmeshed_by_ns_ : kNone;
  UnmeshedClients out{unmeshed_count_, {}};
  if (whole_) {
    out.count += whole_->unmeshed_count_;
    for (const std::string& ns : inside_) {
      if (const auto it = outer.find(ns); it != outer.end()) out.count -= it->second.size();
    }
  }
  // Namespace by namespace in order, each from the state that holds it; the walk stops as soon
  // as enough names are known, so a review never visits the whole cluster.
  auto next_outer = [&](Lists::const_iterator it) {
    while (it != outer.end() && inside_.count(it->first)) ++it;
    return it;
  };
  auto a = mine.begin();
  auto b = next_outer(outer.begin());
  while (out.first.size() < max_names && (a != mine.end() || b != outer.end())) {
    const bool take_mine = b == outer.end() || (a != mine.end() && a->first < b->first);
    const auto& list = take_mine ? a->second : b->second;
    for (std::size_t i = 0; i < list.size() && out.first.size() < max_names; ++i) {
      out.first.push_back(list[i]->meta.namespace_name + "/" + list[i]->meta.name);
    }
    if (take_mine) {
      ++a;
    } else {
      b = next_outer(std::next(b));
    }
  }
  return out;
}

// Positions in objects_.destination_rules, so that a reply lists rules in input order even in a
// selection, whose objects live in several vectors.
void ClusterState::indexDestinationRules() {
  const std::vector<const DestinationRule*>& rules = objects_.destination_rules;
  for (std::size_t position = 0; position < rules.size(); ++position) {
    const DestinationRule& rule = *rules[position];
    if (rule.host.find('*') != std::string::npos) {
      wildcard_rules_.push_back(position);
      continue;
    }
    std::set<std::string_view> keys = {rule.meta.namespace_name};
    std::string_view host = rule.host;
    while (!host.empty()) {
      const std::size_t dot = std::min(host.find('.'), host.size());
      keys.insert(host.substr(0, dot));
      host.remove_prefix(std::min(dot + 1, host.size()));
    }
    for (const std::string_view key : keys) {
      auto it = rules_by_label_.find(key);
      if (it == rules_by_label_.end())
        it = rules_by_label_.emplace(std::string(key), std::vector<std::size_t>{}).first;
      it->second.push_back(position);
    }
  }
}

std::vector<const DestinationRule*> ClusterState::destinationRulesReaching(
    const std::set<std::string>& namespaces) const {
  std::vector<std::size_t> positions = wildcard_rules_;
  for (const std::string& ns : namespaces) {
    const auto it = rules_by_label_.find(ns);
    if (it != rules_by_label_.end()) {
      positions.insert(positions.end(), it->second.begin(), it->second.end());
    }
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  std::vector<const DestinationRule*> out;
  out.reserve(positions.size());
  for (const std::size_t position : positions) out.push_back(objects_.destination_rules[position]);
  return out;
}

// Running pods are the truth when the input has them: a template that would be injected says
// nothing about a pod admitted while the injector was down.
DataplaneDecision ClusterState::decideFor(const Workload& workload) const {
  const Namespace* ns = findNamespace(workload.meta.namespace_name);
  DataplaneDecision decision = decideDataplane(workload, ns, mesh());
  bool first_live = true;
  for (const Workload* instance : instancesOf(workload)) {
    if (instance->kind != "Pod" || !instance->is_live) continue;
    DataplaneDecision running = decideDataplane(*instance, ns, mesh());
    if (first_live || !running.sidecar) decision = running;
    first_live = false;
    if (!running.sidecar) {
      decision.reason = "pod " + instance->meta.name + " runs without a proxy";
      break;
    }
  }
  return decision;
}

// What decideFor reads is the workload, its namespace object, its folded instances and the mesh
// (the caller compared that): when `decided` saw the same, its decision stands.
DataplaneDecision ClusterState::decideLike(const ClusterState& decided,
                                           const Workload& workload) const {
  const auto it = decided.dataplane_.find(&workload);
  const std::string& ns = workload.meta.namespace_name;
  if (it == decided.dataplane_.end() || decided.findNamespace(ns) != findNamespace(ns) ||
      decided.instancesOf(workload) != instancesOf(workload)) {
    return decideFor(workload);
  }
  return it->second;
}

const std::vector<const Workload*>& ClusterState::instancesOf(const Workload& workload) const {
  static const std::vector<const Workload*> kNone;
  auto it = instances_.find(&workload);
  return it == instances_.end() ? kNone : it->second;
}

const DataplaneDecision& ClusterState::dataplane(const Workload& workload) const {
  static const DataplaneDecision kUnknown{};
  auto it = dataplane_.find(&workload);
  return it == dataplane_.end() ? kUnknown : it->second;
}

const Namespace* ClusterState::findNamespace(const std::string& name) const {
  auto it = namespaces_.find(name);
  return it == namespaces_.end() ? nullptr : it->second;
}

template <typename T>
static const std::vector<const T*>& listIn(const std::map<std::string, std::vector<const T*>>& map,
                                           const std::string& ns) {
  static const std::vector<const T*> kNone;
  auto it = map.find(ns);
  return it == map.end() ? kNone : it->second;
}

const std::vector<const Workload*>& ClusterState::workloadsIn(const std::string& ns) const {
  return listIn(workloads_by_ns_, ns);
}

const std::vector<const PeerAuthentication*>& ClusterState::policiesIn(
    const std::string& ns) const {
  return listIn(policies_by_ns_, ns);
}

const std::vector<const Service*>& ClusterState::servicesIn(const std::string& ns) const {
  return listIn(services_by_ns_, ns);
}

const Service* ClusterState::findService(const std::string& ns, const std::string& name) const {
  for (const Service* svc : servicesIn(ns)) {
    if (svc->meta.name == name) return svc;
  }
  return nullptr;
}

}  // namespace peergate::validation
