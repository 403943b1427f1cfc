#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "peergate/cli/output_format.h"
#include "peergate/validation/finding.h"
#include "peergate/validation/model.h"

namespace peergate::cli {

// What `check` reports besides the findings.
struct CheckSummary {
  int objects = 0;
  std::map<std::string, int> skipped_kinds;
};

// "PeerAuthentication default.istio-system" (istioctl's `<Kind> <name>.<namespace>`), or
// "Namespace legacy" for cluster-scoped objects.
std::string objectLabel(const validation::ObjectRef& object);

// One finding as istioctl prints it, then indented lines for the location and the hint:
//   Error [PG0101] (PeerAuthentication default.istio-system) <message>
//       at manifests/examples/mesh-disable/peer-authentication.yaml:6 (spec.mtls.mode)
//       hint: <hint>
void writeFindingText(const validation::Finding& finding, std::ostream& out);

// {code, severity, kind, namespace, name, path, message, hint, file, line}; file and line are
// null when unknown.
nlohmann::ordered_json findingToJson(const validation::Finding& finding);
nlohmann::ordered_json findingsToJson(const std::vector<validation::Finding>& findings);

// {"findings": [...], "summary": {errors, warnings, info, objects, skipped: {Kind: N}}}
nlohmann::ordered_json checkReportJson(const std::vector<validation::Finding>& findings,
                                       const CheckSummary& summary);

// The whole `check` report. Text goes to `out`, with the skipped-kinds note on `err`.
void writeCheckReport(OutputFormat format, const std::vector<validation::Finding>& findings,
                      const CheckSummary& summary, std::ostream& out, std::ostream& err);

bool anyAtOrAbove(const std::vector<validation::Finding>& findings, validation::Severity threshold);

}  // namespace peergate::cli
