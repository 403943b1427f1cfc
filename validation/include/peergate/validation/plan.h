#pragma once

#include <optional>
#include <vector>

#include "peergate/validation/analyze.h"

namespace peergate::validation {

struct ModeChange {
  ObjectRef workload;
  std::optional<int64_t> port;  // nullopt: the workload-level mode
  Mode before = Mode::Unset;
  Mode after = Mode::Unset;
  DecidedBy decided_before;
  DecidedBy decided_after;
};

struct Plan {
  std::vector<ModeChange> changes;
  std::vector<Finding> introduced;  // in `after`, not in `before` (including downgrades)
  std::vector<Finding> cleared;     // in `before`, not in `after`
  Analysis after_analysis;
  // True when the change introduces a finding at or above `threshold`.
  bool refuses(Severity threshold = Severity::Error) const;
};

Plan plan(const ClusterState& before, const ClusterState& after,
          const Observations* observations = nullptr);
// The same with `before` already analysed (the webhook keeps that analysis per snapshot). The
// analysis must come from a state whose objects are still alive.
Plan plan(const Analysis& before, const ClusterState& after,
          const Observations* observations = nullptr);

}  // namespace peergate::validation
