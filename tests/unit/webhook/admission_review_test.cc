#include <catch2/catch.hpp>

#include "../../../webhook/src/admission_review.h"
#include "admission_fixtures.h"

namespace peergate::webhook::testing {
namespace {

using Catch::Contains;

std::size_t runes(const std::string& text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

std::string deeplyNested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// ---- The codec ----

TEST_CASE("decoding reads every request field the handlers use", "[admission]") {
  ReviewSpec spec;
  spec.operation = "UPDATE";
  spec.ns = "foo";
  spec.name = "default";
  spec.object = peerAuthentication({.ns = "foo", .mode = "STRICT"});
  spec.old_object = peerAuthentication({.ns = "foo", .mode = "PERMISSIVE"});
  spec.dry_run = true;
  json body = json::parse(review(spec));
  AdmissionRequest request;
  REQUIRE_FALSE(decodeAdmissionReview(body, request));
  CHECK(request.api_version == "admission.k8s.io/v1");
  CHECK(request.uid == spec.uid);
  CHECK(request.kind.group == "security.istio.io");
  CHECK(request.kind.version == "v1");
  CHECK(request.kind.kind == "PeerAuthentication");
  CHECK(request.resource == "peerauthentications");
  CHECK(request.name == "default");
  CHECK(request.namespace_name == "foo");
  CHECK(request.operation == "UPDATE");
  CHECK(request.username == "alice");
  CHECK(request.dry_run);
  CHECK(request.object["spec"]["mtls"]["mode"] == "STRICT");
  CHECK(request.old_object["spec"]["mtls"]["mode"] == "PERMISSIVE");
}

TEST_CASE("null and missing objects decode alike", "[admission]") {
  json with_nulls = json::parse(review({}));
  json without = with_nulls;
  without["request"].erase("object");
  without["request"].erase("oldObject");
  without["request"].erase("dryRun");
  for (json* body : {&with_nulls, &without}) {
    AdmissionRequest request;
    REQUIRE_FALSE(decodeAdmissionReview(*body, request));
    CHECK(request.object.is_null());
    CHECK(request.old_object.is_null());
    CHECK_FALSE(request.dry_run);
  }
}

TEST_CASE("decoding keeps the uid when a later field is wrong", "[admission]") {
  using Row = std::tuple<std::string, json, std::string>;  // field, value -> message part
  auto [field, value, expected] = GENERATE(table<std::string, json, std::string>({
      Row{"operation", 7, "request.operation must be a string"},
      Row{"object", "text", "request.object must be a JSON object or null"},
      Row{"oldObject", json::array(), "request.oldObject must be a JSON object or null"},
      Row{"dryRun", "yes", "request.dryRun must be true or false"},
      Row{"kind", nullptr, "request.kind.kind is missing"},
  }));
  CAPTURE(field);
  json body = json::parse(review({}));
  body["request"][field] = value;
  AdmissionRequest request;
  const auto problem = decodeAdmissionReview(body, request);
  REQUIRE(problem);
  CHECK(problem->code == 400);
  CHECK(problem->error == AdmissionError::BadRequest);
  CHECK_THAT(problem->message, Contains(expected));
  CHECK(request.uid == "705ab4f5-6393-11e8-b7cc-42010a800002");
}

TEST_CASE("the reply echoes uid and apiVersion and carries status only on denial", "[admission]") {
  AdmissionRequest request;
  request.api_version = "admission.k8s.io/v1beta1";
  request.uid = "u-1";
  const json allowed = json::parse(encodeAdmissionReview(request, allowResponse()));
  CHECK(allowed == json::parse(R"({"apiVersion":"admission.k8s.io/v1beta1",
      "kind":"AdmissionReview","response":{"uid":"u-1","allowed":true}})"));
  const json denied = json::parse(encodeAdmissionReview(request, denyResponse(403, "no\nway")));
  CHECK(denied["response"]["status"] ==
        json::parse(R"({"code":403,"reason":"Forbidden","message":"no way"})"));
}

TEST_CASE("a patch is base64 JSON with patchType, and never on a denial", "[admission]") {
  AdmissionRequest request;
  request.uid = "u-1";
  AdmissionResponse response = allowResponse();
  response.patch.push_back({{"op", "add"}, {"path", "/spec/replicas"}, {"value", 3}});
  const json allowed = json::parse(encodeAdmissionReview(request, response));
  CHECK(allowed["response"]["patchType"] == "JSONPatch");
  CHECK(allowed["response"]["patch"] ==
        "W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMvcmVwbGljYXMiLCJ2YWx1ZSI6M31d");
  response.allowed = false;
  const json denied = json::parse(encodeAdmissionReview(request, response));
  CHECK_FALSE(denied["response"].contains("patch"));
  CHECK_FALSE(denied["response"].contains("patchType"));
}

TEST_CASE("every status code has the metav1 reason kubectl prints", "[admission]") {
  CHECK(statusReason(400) == "BadRequest");
  CHECK(statusReason(403) == "Forbidden");
  CHECK(statusReason(404) == "NotFound");
  CHECK(statusReason(413) == "RequestEntityTooLarge");
  CHECK(statusReason(415) == "UnsupportedMediaType");
  CHECK(statusReason(500) == "InternalError");
}

TEST_CASE("warnings are one short line each, deduplicated, in order", "[admission]") {
  const std::string long_warning = "[PG0201] " + std::string(200, 'x');
  const std::vector<std::string> cleaned =
      cleanWarnings({"b\nsecond\tline", "a", "b second line", "", "  \x01 ", long_warning,
                     "caf\xC3\xA9 \xC2\x85ok"});
  REQUIRE(cleaned.size() == 4);
  CHECK(cleaned[0] == "b second line");
  CHECK(cleaned[1] == "a");
  CHECK(runes(cleaned[2]) <= 120);
  CHECK_THAT(cleaned[2], Catch::StartsWith("[PG0201] xxx") && Catch::EndsWith("..."));
  CHECK(cleaned[3] == "caf\xC3\xA9 ok");
}

TEST_CASE("oneLine cuts long text at a UTF-8 boundary", "[admission]") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\xC3\xA9";  // 200 bytes of é
  const std::string cut = oneLine(text, 51);
  CHECK(cut.size() <= 51);
  CHECK_THAT(cut, Catch::EndsWith("..."));
  CHECK(json(cut).dump().find("\\u") == std::string::npos);  // still valid UTF-8
  CHECK(oneLine("short", 51) == "short");
}

TEST_CASE("nesting depth is counted outside strings only", "[admission]") {
  CHECK(jsonNestingDepth(R"({"a":[1,{"b":"[[[[{{"}]})") == 3);
  CHECK(jsonNestingDepth(R"({"a":"\"[[["})") == 1);
  CHECK(jsonNestingDepth(deeplyNested(10'000)) == kMaxJsonDepth + 1);
}

// ---- The handler's envelope ----

TEST_CASE("a body that is not JSON gets HTTP 400 and a clear message", "[admission]") {
  Webhook webhook;
  const Reply reply = post(webhook.handler, "/validate", "this is not json");
  CHECK(reply.http_status == 400);
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 400);
  CHECK_THAT(reply.message(), Contains("not JSON") && Contains("line 1"));
  CHECK(reply.outcome.errored());
  CHECK(reply.outcome.webhook == "validate");
}

TEST_CASE("a wrong Content-Type is refused inside the review, uid echoed", "[admission]") {
  Webhook webhook;
  const std::string body = policyReview({.ns = "foo", .mode = "STRICT"});
  const Reply reply = post(webhook.handler, "/validate", body, "text/plain");
  CHECK(reply.http_status == 200);
  CHECK(reply.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 415);
  CHECK_THAT(reply.message(), Contains("application/json") && Contains("text/plain"));
}

TEST_CASE("Content-Type parameters and case are accepted", "[admission]") {
  Webhook webhook;
  const std::string body = policyReview({.ns = "foo", .mode = "STRICT"});
  for (const char* type :
       {"application/json; charset=utf-8", "Application/JSON", " application/json "}) {
    CAPTURE(type);
    CHECK(post(webhook.handler, "/validate", body, type).allowed());
  }
}

TEST_CASE("malformed AdmissionReviews get a clear error and no crash", "[admission]") {
  using Row = std::tuple<std::string, std::string, int>;  // body -> message part, HTTP status
  const std::string good = policyReview({.ns = "foo", .mode = "STRICT"});
  json no_uid = json::parse(good);
  no_uid["request"].erase("uid");
  json wrong_version = json::parse(good);
  wrong_version["apiVersion"] = "admission.k8s.io/v2";
  json wrong_kind = json::parse(good);
  wrong_kind["kind"] = "TokenReview";
  auto [body, expected, http] = GENERATE_COPY(table<std::string, std::string, int>({
      Row{R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "request is missing",
          400},
      Row{no_uid.dump(), "request.uid is missing", 400},
      Row{"[1,2,3]", "JSON array", 400},
      Row{"", "not JSON", 400},
      Row{wrong_version.dump(), "admission.k8s.io/v2", 200},
      Row{wrong_kind.dump(), "TokenReview", 200},
      Row{deeplyNested(10'000), "nests deeper than", 400},
      Row{R"({"request":{"uid":"u","object":)" + deeplyNested(10'000) + "}}", "nests deeper", 200},
  }));
  CAPTURE(body.substr(0, 200));
  Webhook webhook;
  const Reply reply = post(webhook.handler, "/validate", body);
  CHECK(reply.http_status == http);
  CHECK_FALSE(reply.allowed());
  CHECK_THAT(reply.message(), Contains(expected));
  CHECK(reply.outcome.errored());
}

TEST_CASE("an unknown route is a clear error inside the review", "[admission]") {
  Webhook webhook;
  const Reply reply =
      post(webhook.handler, "/validat", policyReview({.ns = "foo", .mode = "STRICT"}));
  CHECK(reply.http_status == 200);
  CHECK_FALSE(reply.allowed());
  CHECK(reply.code() == 404);
  CHECK_THAT(reply.message(), Contains("/validate") && Contains("/validat\""));
}

TEST_CASE("a body over the limit gets 413 with the uid echoed", "[admission]") {
  const std::string body = policyReview({.ns = "foo", .mode = "STRICT"});
  WebhookConfig config;
  config.max_request_bytes = body.size() - 1;
  Webhook webhook(kClusterYaml, config);
  const Reply reply = post(webhook.handler, "/validate", body);
  CHECK(reply.http_status == 200);
  CHECK(reply.code() == 413);
  CHECK(reply.response["status"]["reason"] == "RequestEntityTooLarge");
  CHECK(reply.response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002");
}

}  // namespace
}  // namespace peergate::webhook::testing
