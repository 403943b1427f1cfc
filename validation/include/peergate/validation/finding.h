#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "peergate/validation/model.h"

namespace peergate::validation {

enum class Severity { Info, Warning, Error };

std::string_view toString(Severity severity);
std::optional<Severity> parseSeverity(std::string_view text);  // case-insensitive

// Stable codes: never renumbered, never reused. Catalogued in docs/findings.md.
enum class FindingCode {
  // PG00xx: the object itself (Istio's webhook and CRD rules, Kubernetes metadata)
  InvalidMode = 1,                   // PG0001
  PortLevelMtlsWithoutSelector = 2,  // PG0002
  EmptyPortLevelMtls = 3,            // PG0003
  PortOutOfRange = 4,                // PG0004
  PortNotNumeric = 5,                // PG0005
  EmptySelectorKey = 6,              // PG0006
  WildcardInSelector = 7,            // PG0007
  SelectorWithoutLabels = 8,         // PG0008
  InvalidLabel = 9,                  // PG0009
  InvalidName = 10,                  // PG0010
  InvalidField = 11,                 // PG0011 wrong type or shape of a field
  // PG01xx: the policy set against the cluster
  MeshWideDisable = 101,                    // PG0101
  StrictWithoutProxy = 102,                 // PG0102
  DuplicateMeshWidePolicy = 103,            // PG0103
  DuplicateNamespaceWidePolicy = 104,       // PG0104
  OverlappingWorkloadPolicies = 105,        // PG0105
  SelectorPolicyInRootNamespace = 106,      // PG0106
  SelectorMatchesNoWorkload = 107,          // PG0107
  PortLevelMtlsUnknownPort = 108,           // PG0108
  PortLevelMtlsUsesServicePort = 109,       // PG0109
  DestinationRulePlaintextToStrict = 110,   // PG0110
  DestinationRuleMutualWithoutProxy = 111,  // PG0111
  StrictOnProbedPort = 112,                 // PG0112
  StrictWithObservedPlaintext = 113,        // PG0113
  WorkloadDisableInStrictNamespace = 114,   // PG0114
  StrictWithUnmeshedClients = 115,          // PG0115
  // PG02xx: a change, as `plan` sees it
  SecurityDowngrade = 201,  // PG0201
};

// "PG0101"
std::string codeString(FindingCode code);
std::optional<FindingCode> parseCode(std::string_view text);

struct FindingInfo {
  FindingCode code;
  std::string_view name;  // "MeshWideDisable"
  Severity severity;
  std::string_view summary;  // one line for `--list-analyzers` and docs
};
std::span<const FindingInfo> findingCatalogue();
const FindingInfo& findingInfo(FindingCode code);

struct Finding {
  FindingCode code;
  Severity severity;
  ObjectRef object;       // the object the finding is about
  std::string path;       // field path in that object, e.g. "spec.portLevelMtls.8080"
  std::string message;    // what is wrong, naming what breaks
  std::string hint;       // how to fix it
  SourceLocation source;  // where the object was read from, when known

  // Identity across two analyses (for plan's introduced/cleared): code, object and path.
  std::string key() const;
};

// Sorted by severity (Error first), then object, then code: stable output for goldens.
void sortFindings(std::vector<Finding>& findings);

}  // namespace peergate::validation
