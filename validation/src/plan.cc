#include "peergate/validation/plan.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>

namespace peergate::validation {
namespace {

// Identities compared by view: plan runs on every admission review, and copying each
// workload's and finding's names into a key cost more than the comparisons.
using RefView = std::tuple<std::string_view, std::string_view, std::string_view>;
using FindingView = std::tuple<FindingCode, RefView, std::string_view>;

RefView viewOf(const ObjectRef& ref) { return {ref.kind, ref.namespace_name, ref.name}; }
RefView viewOf(const Workload& workload) {
  return {workload.kind, workload.meta.namespace_name, workload.meta.name};
}
FindingView viewOf(const Finding& finding) {
  return {finding.code, viewOf(finding.object), finding.path};
}

int strength(Mode mode) {
  switch (mode) {
    case Mode::Disable:
      return 0;
    case Mode::Unset:
    case Mode::Permissive:
      return 1;
    case Mode::Strict:
      return 2;
  }
  return 1;
}

const PortPolicy* findPort(const EffectivePolicy& e, int64_t port) {
  for (const PortPolicy& p : e.ports) {
    if (p.port == port) return &p;
  }
  return nullptr;
}

// The ports either policy lists, ascending, each once.
std::vector<int64_t> portsOfEither(const EffectivePolicy& before, const EffectivePolicy& after) {
  std::vector<int64_t> ports;
  ports.reserve(before.ports.size() + after.ports.size());
  for (const PortPolicy& p : before.ports) ports.push_back(p.port);
  for (const PortPolicy& p : after.ports) ports.push_back(p.port);
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

// The workload's name is copied into a change only when there is one: most workloads have none.
void diffWorkload(const EffectivePolicy& before, const EffectivePolicy& after,
                  std::vector<ModeChange>& changes) {
  if (before.mode != after.mode) {
    changes.push_back({after.workload->ref(), std::nullopt, before.mode, after.mode,
                       before.decided_by, after.decided_by});
  }
  for (int64_t port : portsOfEither(before, after)) {
    const PortPolicy* b = findPort(before, port);
    const PortPolicy* a = findPort(after, port);
    const Mode mode_before = b ? b->mode : before.mode;
    const Mode mode_after = a ? a->mode : after.mode;
    if (mode_before == mode_after) continue;
    changes.push_back({after.workload->ref(), port, mode_before, mode_after,
                       b ? b->decided_by : before.decided_by,
                       a ? a->decided_by : after.decided_by});
  }
}

// `before`'s resolution by workload identity, sorted once for lookups; the first entry wins when
// an identity repeats.
class EffectiveByWorkload {
 public:
  explicit EffectiveByWorkload(const std::vector<EffectivePolicy>& effective) {
    entries_.reserve(effective.size());
    for (const EffectivePolicy& e : effective) entries_.push_back({viewOf(*e.workload), &e});
    std::stable_sort(entries_.begin(), entries_.end(), byView);
  }

  const EffectivePolicy* find(const Workload& workload) const {
    const Entry key{viewOf(workload), nullptr};
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), key, byView);
    return it != entries_.end() && it->first == key.first ? it->second : nullptr;
  }

 private:
  using Entry = std::pair<RefView, const EffectivePolicy*>;
  static bool byView(const Entry& a, const Entry& b) { return a.first < b.first; }
  std::vector<Entry> entries_;
};

// Finding::key() identities of `findings`, sorted for membership tests.
std::vector<FindingView> sortedKeys(const std::vector<Finding>& findings) {
  std::vector<FindingView> keys;
  keys.reserve(findings.size());
  for (const Finding& f : findings) keys.push_back(viewOf(f));
  std::sort(keys.begin(), keys.end());
  return keys;
}

bool containsKey(const std::vector<FindingView>& sorted_keys, const Finding& finding) {
  return std::binary_search(sorted_keys.begin(), sorted_keys.end(), viewOf(finding));
}

std::string describeChange(const ModeChange& change) {
  const std::string where = change.port ? "port " + std::to_string(*change.port) : "workload";
  return where + " " + std::string(toString(change.before)) + " -> " +
         std::string(toString(change.after));
}

// One SecurityDowngrade finding per workload whose mode or a port's mode gets weaker.
std::vector<Finding> downgrades(const std::vector<ModeChange>& changes, const ClusterState& after) {
  std::map<ObjectRef, std::vector<const ModeChange*>> by_workload;
  for (const ModeChange& change : changes) {
    if (strength(change.after) < strength(change.before)) {
      by_workload[change.workload].push_back(&change);
    }
  }
  if (by_workload.empty()) return {};
  std::map<RefView, const Workload*> workloads;
  for (const Workload* w : after.workloads()) workloads.emplace(viewOf(*w), w);
  std::vector<Finding> out;
  for (const auto& [ref, list] : by_workload) {
    std::string message = "the change weakens mTLS on " + ref.namespace_name + "/" + ref.name + ":";
    for (const ModeChange* change : list) {
      message.append(" ").append(describeChange(*change)).append(";");
    }
    message.pop_back();
    const auto it = workloads.find(viewOf(ref));
    out.push_back({FindingCode::SecurityDowngrade,
                   findingInfo(FindingCode::SecurityDowngrade).severity, ref, "", message,
                   "Make sure this is intended (e.g. a rollback); keep STRICT where clients "
                   "already have proxies.",
                   it == workloads.end() ? SourceLocation{} : it->second->meta.source});
  }
  return out;
}

}  // namespace

bool Plan::refuses(Severity threshold) const {
  for (const Finding& finding : introduced) {
    if (finding.severity >= threshold) return true;
  }
  return false;
}

Plan plan(const ClusterState& before, const ClusterState& after, const Observations* observations) {
  return plan(analyze(before, observations), after, observations);
}

Plan plan(const Analysis& before_analysis, const ClusterState& after,
          const Observations* observations) {
  Plan result;
  result.after_analysis = analyze(after, observations);

  const EffectiveByWorkload previous(before_analysis.effective);
  for (const EffectivePolicy& e : result.after_analysis.effective) {
    if (const EffectivePolicy* was = previous.find(*e.workload)) {
      diffWorkload(*was, e, result.changes);
    }
  }

  // Finding::key() identity: code, object and path.
  const std::vector<FindingView> before_keys = sortedKeys(before_analysis.findings);
  const std::vector<FindingView> after_keys = sortedKeys(result.after_analysis.findings);
  for (const Finding& f : result.after_analysis.findings) {
    if (!containsKey(before_keys, f)) result.introduced.push_back(f);
  }
  for (const Finding& f : before_analysis.findings) {
    if (!containsKey(after_keys, f)) result.cleared.push_back(f);
  }
  for (Finding& f : downgrades(result.changes, after)) result.introduced.push_back(std::move(f));
  sortFindings(result.introduced);
  sortFindings(result.cleared);
  return result;
}

}  // namespace peergate::validation
