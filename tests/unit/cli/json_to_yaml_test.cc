#include "peergate/cli/json_to_yaml.h"

#include <yaml-cpp/yaml.h>
#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

using Json = nlohmann::ordered_json;

TEST_CASE("renders JSON as YAML with the same structure and key order", "[cli][yaml]") {
  const Json document = {
      {"findings",
       Json::array({Json{{"code", "PG0101"}, {"line", 7}, {"file", nullptr}, {"ok", true}}})},
      {"summary", Json{{"skipped", Json::object()}, {"ports", Json::array()}}}};
  const std::string yaml = toYaml(document);
  CHECK(yaml.find("findings:") < yaml.find("summary:"));
  const YAML::Node parsed = YAML::Load(yaml);
  CHECK(parsed["findings"][0]["code"].as<std::string>() == "PG0101");
  CHECK(parsed["findings"][0]["line"].as<int>() == 7);
  CHECK(parsed["findings"][0]["file"].IsNull());
  CHECK(parsed["findings"][0]["ok"].as<bool>());
  CHECK(parsed["summary"]["skipped"].IsMap());
  CHECK(parsed["summary"]["ports"].IsSequence());
  CHECK(parsed["summary"]["ports"].size() == 0);
}

TEST_CASE("quotes strings YAML would otherwise read as other types", "[cli][yaml]") {
  const Json document = {{"a", "true"}, {"b", "8080"}, {"c", "null"}, {"d", "x: y"}};
  const std::string yaml = toYaml(document);
  CHECK(yaml.find("b: \"8080\"") != std::string::npos);
  CHECK(yaml.find("c: \"null\"") != std::string::npos);
  const YAML::Node parsed = YAML::Load(yaml);
  CHECK(parsed["a"].as<std::string>() == "true");
  CHECK(parsed["c"].as<std::string>() == "null");
  CHECK(parsed["d"].as<std::string>() == "x: y");
}

TEST_CASE("JSON text never throws on invalid UTF-8 from inputs", "[cli][json]") {
  const Json document = {{"message", std::string("bad \xff byte")}};
  const std::string text = toJsonText(document);
  CHECK(text.find("bad") != std::string::npos);
  CHECK(text.back() == '\n');
}

}  // namespace
}  // namespace peergate::cli
