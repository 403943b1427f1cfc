#include "peergate/cli/finding_output.h"

#include <ostream>

#include "peergate/cli/json_to_yaml.h"

namespace peergate::cli {
namespace {

using Json = nlohmann::ordered_json;
using validation::Finding;
using validation::Severity;

std::string location(const Finding& finding) {
  std::string text = finding.source.file;
  if (!text.empty() && finding.source.line > 0) text += ":" + std::to_string(finding.source.line);
  if (!finding.path.empty()) text += text.empty() ? finding.path : " (" + finding.path + ")";
  return text;
}

int countAt(const std::vector<Finding>& findings, Severity severity) {
  int count = 0;
  for (const Finding& finding : findings) count += finding.severity == severity ? 1 : 0;
  return count;
}

Json summaryJson(const std::vector<Finding>& findings, const CheckSummary& summary) {
  Json skipped = Json::object();
  for (const auto& [kind, count] : summary.skipped_kinds) skipped[kind] = count;
  return Json{{"errors", countAt(findings, Severity::Error)},
              {"warnings", countAt(findings, Severity::Warning)},
              {"info", countAt(findings, Severity::Info)},
              {"objects", summary.objects},
              {"skipped", std::move(skipped)}};
}

std::string objectsText(int objects) {
  return std::to_string(objects) + (objects == 1 ? " object" : " objects");
}

void writeSkippedNote(const CheckSummary& summary, std::ostream& err) {
  if (summary.skipped_kinds.empty()) return;
  int total = 0;
  std::string kinds;
  for (const auto& [kind, count] : summary.skipped_kinds) {
    total += count;
    kinds += (kinds.empty() ? "" : ", ") + kind + " (" + std::to_string(count) + ")";
  }
  err << "Skipped " << objectsText(total) << " of kinds peergate does not analyze: " << kinds
      << ".\n";
}

void writeCheckText(const std::vector<Finding>& findings, const CheckSummary& summary,
                    std::ostream& out, std::ostream& err) {
  for (const Finding& finding : findings) writeFindingText(finding, out);
  if (findings.empty()) {
    out << "\u2714 No validation issues found when analyzing " << objectsText(summary.objects)
        << ".\n";
  }
  writeSkippedNote(summary, err);
}

}  // namespace

std::string objectLabel(const validation::ObjectRef& object) {
  if (object.namespace_name.empty()) return object.kind + " " + object.name;
  return object.kind + " " + object.name + "." + object.namespace_name;
}

void writeFindingText(const Finding& finding, std::ostream& out) {
  out << validation::toString(finding.severity) << " [" << validation::codeString(finding.code)
      << "] (" << objectLabel(finding.object) << ") " << finding.message << "\n";
  if (const std::string where = location(finding); !where.empty()) {
    out << "    at " << where << "\n";
  }
  if (!finding.hint.empty()) out << "    hint: " << finding.hint << "\n";
}

Json findingToJson(const Finding& finding) {
  const validation::SourceLocation& source = finding.source;
  return Json{{"code", validation::codeString(finding.code)},
              {"severity", validation::toString(finding.severity)},
              {"kind", finding.object.kind},
              {"namespace", finding.object.namespace_name},
              {"name", finding.object.name},
              {"path", finding.path},
              {"message", finding.message},
              {"hint", finding.hint},
              {"file", source.file.empty() ? Json(nullptr) : Json(source.file)},
              {"line", source.line > 0 ? Json(source.line) : Json(nullptr)}};
}

Json findingsToJson(const std::vector<Finding>& findings) {
  Json array = Json::array();
  for (const Finding& finding : findings) array.push_back(findingToJson(finding));
  return array;
}

Json checkReportJson(const std::vector<Finding>& findings, const CheckSummary& summary) {
  return Json{{"findings", findingsToJson(findings)}, {"summary", summaryJson(findings, summary)}};
}

void writeCheckReport(OutputFormat format, const std::vector<Finding>& findings,
                      const CheckSummary& summary, std::ostream& out, std::ostream& err) {
  switch (format) {
    case OutputFormat::Text:
      return writeCheckText(findings, summary, out, err);
    case OutputFormat::Json:
      out << toJsonText(checkReportJson(findings, summary));
      return;
    case OutputFormat::Yaml:
      out << toYaml(checkReportJson(findings, summary));
      return;
  }
}

bool anyAtOrAbove(const std::vector<Finding>& findings, Severity threshold) {
  for (const Finding& finding : findings) {
    if (finding.severity >= threshold) return true;
  }
  return false;
}

}  // namespace peergate::cli
