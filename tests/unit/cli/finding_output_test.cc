#include "peergate/cli/finding_output.h"

#include <sstream>

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

using validation::Finding;
using validation::FindingCode;
using validation::Severity;

Finding meshDisable() {
  Finding finding;
  finding.code = FindingCode::MeshWideDisable;
  finding.severity = Severity::Error;
  finding.object = {"PeerAuthentication", "istio-system", "default"};
  finding.path = "spec.mtls.mode";
  finding.message = "mesh-wide DISABLE turns mTLS off";
  finding.hint = "Use PERMISSIVE.";
  finding.source = {"mesh/pa.yaml", 0, 6};
  return finding;
}

Finding selectorWarning() {
  Finding finding;
  finding.code = FindingCode::SelectorMatchesNoWorkload;
  finding.severity = Severity::Warning;
  finding.object = {"PeerAuthentication", "foo", "orphan"};
  finding.message = "matches nothing";
  return finding;
}

TEST_CASE("labels objects as istioctl does", "[cli][output]") {
  CHECK(objectLabel({"PeerAuthentication", "istio-system", "default"}) ==
        "PeerAuthentication default.istio-system");
  CHECK(objectLabel({"Namespace", "", "legacy"}) == "Namespace legacy");
}

TEST_CASE("prints a finding like istioctl analyze, then where and how to fix", "[cli][output]") {
  std::ostringstream out;
  writeFindingText(meshDisable(), out);
  CHECK(out.str() ==
        "Error [PG0101] (PeerAuthentication default.istio-system) mesh-wide DISABLE turns mTLS "
        "off\n"
        "    at mesh/pa.yaml:6 (spec.mtls.mode)\n"
        "    hint: Use PERMISSIVE.\n");
}

TEST_CASE("omits the location and hint lines when unknown", "[cli][output]") {
  std::ostringstream out;
  writeFindingText(selectorWarning(), out);
  CHECK(out.str() == "Warning [PG0107] (PeerAuthentication orphan.foo) matches nothing\n");
}

TEST_CASE("a finding in JSON has every contract field", "[cli][output]") {
  const auto json = findingToJson(meshDisable());
  CHECK(json.dump() == R"({"code":"PG0101","severity":"Error","kind":"PeerAuthentication",)"
                       R"("namespace":"istio-system","name":"default","path":"spec.mtls.mode",)"
                       R"("message":"mesh-wide DISABLE turns mTLS off","hint":"Use PERMISSIVE.",)"
                       R"("file":"mesh/pa.yaml","line":6})");
  const auto unknown = findingToJson(selectorWarning());
  CHECK(unknown["file"].is_null());
  CHECK(unknown["line"].is_null());
}

TEST_CASE("the check summary counts severities, objects and skipped kinds", "[cli][output]") {
  const CheckSummary summary{12, {{"ServiceAccount", 6}}};
  const auto json = checkReportJson({meshDisable(), selectorWarning()}, summary);
  CHECK(json["summary"].dump() ==
        R"({"errors":1,"warnings":1,"info":0,"objects":12,"skipped":{"ServiceAccount":6}})");
  CHECK(json["findings"].size() == 2);
}

TEST_CASE("YAML output has the JSON structure", "[cli][output]") {
  std::ostringstream out;
  std::ostringstream err;
  writeCheckReport(OutputFormat::Yaml, {meshDisable()}, CheckSummary{3, {}}, out, err);
  const YAML::Node parsed = YAML::Load(out.str());
  CHECK(parsed["findings"][0]["code"].as<std::string>() == "PG0101");
  CHECK(parsed["findings"][0]["line"].as<int>() == 6);
  CHECK(parsed["summary"]["objects"].as<int>() == 3);
  CHECK(parsed["summary"]["skipped"].IsMap());
}

TEST_CASE("a clean text report prints the check mark line and skipped kinds on stderr",
          "[cli][output]") {
  std::ostringstream out;
  std::ostringstream err;
  writeCheckReport(OutputFormat::Text, {}, CheckSummary{1, {{"ConfigMap", 2}}}, out, err);
  CHECK(out.str() == "\u2714 No validation issues found when analyzing 1 object.\n");
  CHECK(err.str() == "Skipped 2 objects of kinds peergate does not analyze: ConfigMap (2).\n");
}

TEST_CASE("thresholds compare severities inclusively", "[cli][output]") {
  const std::vector<Finding> warnings = {selectorWarning()};
  CHECK(anyAtOrAbove(warnings, Severity::Info));
  CHECK(anyAtOrAbove(warnings, Severity::Warning));
  CHECK_FALSE(anyAtOrAbove(warnings, Severity::Error));
  CHECK_FALSE(anyAtOrAbove({}, Severity::Info));
}

}  // namespace
}  // namespace peergate::cli
