#include "peergate/validation/plan.h"

#include <map>
#include <set>
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

void diffWorkload(const EffectivePolicy& before, const EffectivePolicy& after,
                  std::vector<ModeChange>& changes) {
  const ObjectRef ref = after.workload->ref();
  if (before.mode != after.mode) {
    changes.push_back(
        {ref, std::nullopt, before.mode, after.mode, before.decided_by, after.decided_by});
  }
  std::set<int64_t> ports;
  for (const PortPolicy& p : before.ports) ports.insert(p.port);
  for (const PortPolicy& p : after.ports) ports.insert(p.port);
  for (int64_t port : ports) {
    const PortPolicy* b = findPort(before, port);
    const PortPolicy* a = findPort(after, port);
    const Mode mode_before = b ? b->mode : before.mode;
    const Mode mode_after = a ? a->mode : after.mode;
    if (mode_before == mode_after) continue;
    changes.push_back({ref, port, mode_before, mode_after, b ? b->decided_by : before.decided_by,
                       a ? a->decided_by : after.decided_by});
  }
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

  std::map<RefView, const EffectivePolicy*> previous;
  for (const EffectivePolicy& e : before_analysis.effective) {
    previous.emplace(viewOf(*e.workload), &e);
  }
  for (const EffectivePolicy& e : result.after_analysis.effective) {
    auto it = previous.find(viewOf(*e.workload));
    if (it != previous.end()) diffWorkload(*it->second, e, result.changes);
  }

  // Finding::key() identity: code, object and path.
  std::set<FindingView> before_keys;
  for (const Finding& f : before_analysis.findings) before_keys.insert(viewOf(f));
  std::set<FindingView> after_keys;
  for (const Finding& f : result.after_analysis.findings) {
    after_keys.insert(viewOf(f));
    if (!before_keys.count(viewOf(f))) result.introduced.push_back(f);
  }
  for (const Finding& f : before_analysis.findings) {
    if (!after_keys.count(viewOf(f))) result.cleared.push_back(f);
  }
  for (Finding& f : downgrades(result.changes, after)) result.introduced.push_back(std::move(f));
  sortFindings(result.introduced);
  sortFindings(result.cleared);
  return result;
}

}  // namespace peergate::validation
