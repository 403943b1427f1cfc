#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "../../../webhook/src/plain_json.h"

namespace peergate::webhook::testing {
namespace {

using nlohmann::json;

// Equal values of equal types all the way down (json's operator== calls 1 and 1u equal).
bool sameDocument(const json& a, const json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto it = a.begin(), other = b.begin(); it != a.end(); ++it, ++other) {
      if (it.key() != other.key() || !sameDocument(*it, *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!sameDocument(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

TEST_CASE("plain JSON reads as nlohmann reads it", "[admission][plain-json]") {
  const std::string text = GENERATE(
      as<std::string>{},  //
      R"({})", R"([])", R"("x")", R"(0)", R"(-0)", R"(42)", R"(-7)", R"(999999999999999999)",
      R"(true)", R"(false)", R"(null)", " \t\r\n{ \"a\" : [ 1 , -2 , \"b\" ] }\n ",
      R"({"b":1,"a":{"c":[null,true,false,{}]}})", R"({"k":1,"k":2})", R"({"":""})",
      R"({"q":"say \"hi\"\\ \/ \b\f\n\r\t"})",
      R"({"kind":"AdmissionReview","request":{"uid":"u","dryRun":false,)"
      R"("object":{"spec":{"mtls":{"mode":"STRICT"}}},"oldObject":null}})");
  CAPTURE(text);
  const std::optional<json> plain = parsePlainJson(text, 128);
  REQUIRE(plain);
  CHECK(sameDocument(*plain, json::parse(text)));
}

TEST_CASE("plain JSON leaves everything else to nlohmann", "[admission][plain-json]") {
  const std::string text =
      GENERATE(as<std::string>{},  //
               "", " ", R"({)", R"({"a":1,})", R"([1,])", R"({"a" 1})", R"({'a':1})", R"(01)",
               R"(1.5)", R"(1e3)", R"(-)", R"(+1)", R"(1234567890123456789)", R"("\u00e9")",
               "\"caf\xc3\xa9\"", "\"a\tb\"", R"("\x")", R"(tru)", R"(truex)", R"(nul)", R"({} {})",
               R"(/* c */ {})", "\xef\xbb\xbf{}", R"([[[1]]])");
  CAPTURE(text);
  CHECK_FALSE(parsePlainJson(text, 2));
}

TEST_CASE("plain JSON stops at the nesting limit", "[admission][plain-json]") {
  CHECK(parsePlainJson("[[1]]", 2));
  CHECK_FALSE(parsePlainJson("[[[1]]]", 2));
  CHECK_FALSE(parsePlainJson(std::string(100000, '[') + std::string(100000, ']'), 128));
}

}  // namespace
}  // namespace peergate::webhook::testing
