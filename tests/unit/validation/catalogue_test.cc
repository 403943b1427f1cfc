#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "peergate/validation/analyze.h"
#include "peergate/validation/finding.h"

using namespace peergate::validation;

TEST_CASE("every finding code is documented in docs/findings.md with its severity", "[catalogue]") {
  std::ifstream file(std::string(PEERGATE_SOURCE_DIR) + "/docs/findings.md");
  REQUIRE(file);
  std::stringstream text;
  text << file.rdbuf();
  for (const FindingInfo& info : findingCatalogue()) {
    const std::string heading = "### " + codeString(info.code) + " " + std::string(info.name) +
                                " (" + std::string(toString(info.severity)) + ")";
    CAPTURE(heading);
    CHECK(text.str().find(heading) != std::string::npos);
  }
}

TEST_CASE("analyzer names are unique", "[catalogue]") {
  std::set<std::string_view> names;
  for (const Analyzer& analyzer : analyzers()) CHECK(names.insert(analyzer.name).second);
  CHECK(names.size() >= 12);
}
