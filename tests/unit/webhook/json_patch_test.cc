#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "../../../webhook/src/json_patch.h"

namespace peergate::webhook {
namespace {

using nlohmann::json;

TEST_CASE("base64 matches the RFC 4648 test vectors", "[admission]") {
  using Row = std::tuple<std::string, std::string>;
  auto [plain, encoded] = GENERATE(table<std::string, std::string>({
      Row{"", ""},
      Row{"f", "Zg=="},
      Row{"fo", "Zm8="},
      Row{"foo", "Zm9v"},
      Row{"foob", "Zm9vYg=="},
      Row{"fooba", "Zm9vYmE="},
      Row{"foobar", "Zm9vYmFy"},
  }));
  CHECK(base64Encode(plain) == encoded);
}

TEST_CASE("base64 encodes every byte value", "[admission]") {
  CHECK(base64Encode(std::string("\x00\xff\xfe", 3)) == "AP/+");
}

TEST_CASE("pointer tokens escape ~ before /", "[admission]") {
  CHECK(escapePointerToken("peergate.io/scope") == "peergate.io~1scope");
  CHECK(escapePointerToken("a~b") == "a~0b");
  CHECK(escapePointerToken("~/") == "~0~1");
  CHECK(escapePointerToken("~1") == "~01");
  CHECK(jsonPointer({"metadata", "annotations", "peergate.io/scope"}) ==
        "/metadata/annotations/peergate.io~1scope");
  CHECK(jsonPointer({}).empty());
}

TEST_CASE("a patch is a JSON array of RFC 6902 operations", "[admission]") {
  JsonPatch patch;
  CHECK(patch.empty());
  CHECK(patch.toJson() == "[]");
  patch.add("/metadata/annotations", {{"a", "1"}});
  patch.replace("/spec/replicas", 3);
  patch.remove("/spec/paused");
  CHECK_FALSE(patch.empty());
  CHECK(patch.ops() == json::parse(R"([
    {"op": "add", "path": "/metadata/annotations", "value": {"a": "1"}},
    {"op": "replace", "path": "/spec/replicas", "value": 3},
    {"op": "remove", "path": "/spec/paused"}])"));
  CHECK(patch.toBase64() == base64Encode(patch.toJson()));
}

TEST_CASE("applying the patch to the object gives what the ops say", "[admission]") {
  const json object = json::parse(R"({"metadata": {"annotations": {"x~y": "old"}},
                                      "spec": {"replicas": 1, "paused": true}})");
  JsonPatch patch;
  patch.add(jsonPointer({"metadata", "annotations", "peergate.io/scope"}), "mesh");
  patch.add(jsonPointer({"metadata", "annotations", "x~y"}), "new");
  patch.replace("/spec/replicas", 3);
  patch.remove("/spec/paused");
  const json after = object.patch(json::parse(patch.toJson()));
  CHECK(after == json::parse(R"({"metadata": {"annotations": {"x~y": "new",
                                 "peergate.io/scope": "mesh"}}, "spec": {"replicas": 3}})"));
}

}  // namespace
}  // namespace peergate::webhook
