#include "peergate/cli/plan_output.h"

#include <algorithm>
#include <ostream>
#include <tuple>

#include "peergate/cli/describe_output.h"
#include "peergate/cli/finding_output.h"
#include "peergate/cli/text_table.h"

namespace peergate::cli {
namespace {

using Json = nlohmann::ordered_json;
using validation::Finding;
using validation::Severity;

Json changeJson(const validation::ModeChange& change) {
  return Json{{"namespace", change.workload.namespace_name},
              {"name", change.workload.name},
              {"kind", change.workload.kind},
              {"port", change.port ? Json(*change.port) : Json(nullptr)},
              {"before", validation::toString(change.before)},
              {"after", validation::toString(change.after)},
              {"decidedBefore", decidedByToJson(change.decided_before)},
              {"decidedAfter", decidedByToJson(change.decided_after)}};
}

// By namespace, workload name and kind, the workload row before its ports: the order
// `describe` uses.
std::vector<const validation::ModeChange*> sortedChanges(const validation::Plan& plan) {
  std::vector<const validation::ModeChange*> changes;
  for (const validation::ModeChange& change : plan.changes) changes.push_back(&change);
  std::stable_sort(changes.begin(), changes.end(), [](const auto* a, const auto* b) {
    const validation::ObjectRef& wa = a->workload;
    const validation::ObjectRef& wb = b->workload;
    return std::tie(wa.namespace_name, wa.name, wa.kind, a->port) <
           std::tie(wb.namespace_name, wb.name, wb.kind, b->port);
  });
  return changes;
}

int countAtOrAbove(const std::vector<Finding>& findings, Severity threshold) {
  int count = 0;
  for (const Finding& finding : findings) count += finding.severity >= threshold ? 1 : 0;
  return count;
}

void writeChanges(const validation::Plan& plan, std::ostream& out) {
  if (plan.changes.empty()) {
    out << "No effective mode changes.\n";
    return;
  }
  TextTable table({"NAMESPACE", "WORKLOAD", "PORT", "BEFORE", "\u2192", "AFTER", "DECIDED-BY"});
  for (const validation::ModeChange* change : sortedChanges(plan)) {
    table.addRow({change->workload.namespace_name, workloadText(change->workload),
                  change->port ? std::to_string(*change->port) : "*",
                  std::string(validation::toString(change->before)), "\u2192",
                  std::string(validation::toString(change->after)),
                  decidedByText(change->decided_after)});
  }
  table.write(out);
}

void writeFindings(const char* title, const std::vector<Finding>& findings, std::ostream& out) {
  if (findings.empty()) return;
  out << "\n" << title << " (" << findings.size() << "):\n";
  for (const Finding& finding : findings) writeFindingText(finding, out);
}

void writeVerdict(const validation::Plan& plan, Severity threshold, std::ostream& out) {
  const int blocking = countAtOrAbove(plan.introduced, threshold);
  const std::string level(validation::toString(threshold));
  out << "\n";
  if (plan.refuses(threshold)) {
    out << "\u2718 Refused: the change introduces " << blocking
        << (blocking == 1 ? " finding" : " findings") << " at or above " << level << ".\n";
  } else {
    out << "\u2714 Allowed: the change introduces no finding at or above " << level << ".\n";
  }
}

}  // namespace

Json planJson(const validation::Plan& plan, Severity threshold) {
  Json changes = Json::array();
  for (const validation::ModeChange* change : sortedChanges(plan)) {
    changes.push_back(changeJson(*change));
  }
  return Json{{"changes", std::move(changes)},
              {"introduced", findingsToJson(plan.introduced)},
              {"cleared", findingsToJson(plan.cleared)},
              {"threshold", validation::toString(threshold)},
              {"refused", plan.refuses(threshold)}};
}

void writePlanText(const validation::Plan& plan, Severity threshold, std::ostream& out) {
  writeChanges(plan, out);
  writeFindings("Introduced findings", plan.introduced, out);
  writeFindings("Cleared findings", plan.cleared, out);
  writeVerdict(plan, threshold, out);
}

}  // namespace peergate::cli
