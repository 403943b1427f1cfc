#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "peergate/webhook/token_auth.h"

namespace peergate::webhook {
namespace {

using Status = AuthOutcome::Status;

TEST_CASE("service-account user names split into namespace and account", "[webhook][tokens]") {
  const auto account = parseServiceAccountUser("system:serviceaccount:foo:httpbin");
  REQUIRE(account);
  CHECK(account->first == "foo");
  CHECK(account->second == "httpbin");
  for (const char* user : {"alice", "system:serviceaccount:foo", "system:serviceaccount::sa",
                           "system:serviceaccount:foo:", "system:serviceaccount:a:b:c"}) {
    CAPTURE(user);
    CHECK_FALSE(parseServiceAccountUser(user));
  }
}

TEST_CASE("a static token file authenticates service accounts only", "[webhook][tokens]") {
  const auto parsed = StaticTokenAuthenticator::parse(
      "# token,user,uid,groups\n"
      "tok-httpbin,system:serviceaccount:foo:httpbin,1001\n"
      "\n"
      "\"tok-curl\",\"system:serviceaccount:bar:curl\",1002,\"system:serviceaccounts,x\"\n"
      "tok-alice,alice,1003\n",
      "tokens.csv");
  REQUIRE(parsed.ok());
  StaticTokenAuthenticator& tokens = *parsed.value();
  CHECK(tokens.size() == 3);
  const AuthOutcome httpbin = tokens.authenticate("tok-httpbin");
  CHECK(httpbin.status == Status::Authenticated);
  CHECK(httpbin.caller.namespace_name == "foo");
  CHECK(httpbin.caller.service_account == "httpbin");
  CHECK(tokens.authenticate("tok-curl").caller.namespace_name == "bar");
  const AuthOutcome alice = tokens.authenticate("tok-alice");
  CHECK(alice.status == Status::Rejected);
  CHECK(alice.message.find("\"alice\", not to a service account") != std::string::npos);
  CHECK(tokens.authenticate("nope").status == Status::Rejected);
  CHECK(tokens.authenticate("").status == Status::Rejected);
}

TEST_CASE("a malformed static token file names the line", "[webhook][tokens]") {
  const auto [text, code, line] = GENERATE(table<std::string, std::string, int>({
      {"tok-1,system:serviceaccount:a:b,1\njust-a-token\n", "tokens.syntax", 2},
      {",system:serviceaccount:a:b,1\n", "tokens.syntax", 1},
      {"t,system:serviceaccount:a:b,1\n# again\nt,system:serviceaccount:a:c,2\n",
       "tokens.duplicate", 3},
  }));
  const auto parsed = StaticTokenAuthenticator::parse(text, "tokens.csv");
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == code);
  CHECK(parsed.error().line == line);
  CHECK(parsed.error().file == "tokens.csv");
}

TEST_CASE("a TokenReview verdict needs authenticated, our audience and a service account",
          "[webhook][tokens]") {
  const nlohmann::json good = nlohmann::json::parse(R"({"status": {"authenticated": true,
    "user": {"username": "system:serviceaccount:foo:httpbin",
             "extra": {"authentication.kubernetes.io/pod-name": ["httpbin-1"]}},
    "audiences": ["peergate-ca"]}})");
  const AuthOutcome accepted = tokenReviewOutcome(good, "peergate-ca");
  CHECK(accepted.status == Status::Authenticated);
  CHECK(accepted.caller.pod_name == "httpbin-1");

  CHECK(tokenReviewOutcome(good, "istio-ca").message.find("audience \"istio-ca\"") !=
        std::string::npos);
  nlohmann::json refused = {{"status", {{"error", "token expired"}}}};
  const AuthOutcome expired = tokenReviewOutcome(refused, "peergate-ca");
  CHECK(expired.status == Status::Rejected);
  CHECK(expired.message.find("token expired") != std::string::npos);
  nlohmann::json user = good;
  user["status"]["user"]["username"] = "kubernetes-admin";
  CHECK(tokenReviewOutcome(user, "peergate-ca").status == Status::Rejected);
}

}  // namespace
}  // namespace peergate::webhook
