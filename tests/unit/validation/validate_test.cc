// Tests of validatePeerAuthentication and validateObjectMeta: Istio's webhook and CRD rules
// (spec §1-2), with Istio's verdict on every case of Istio's own test tables.

#include "peergate/validation/validate.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace peergate::validation {
namespace {

enum class Verdict { Valid, Warning, Invalid };

std::ostream& operator<<(std::ostream& out, Verdict verdict) {
  switch (verdict) {
    case Verdict::Valid:
      return out << "valid";
    case Verdict::Warning:
      return out << "valid with a warning";
    case Verdict::Invalid:
      return out << "invalid";
  }
  return out;
}

// Istio's (warning, error) pair, as a verdict: any Error rejects, else any Warning warns.
Verdict verdictOf(const std::vector<Finding>& findings) {
  Verdict verdict = Verdict::Valid;
  for (const Finding& finding : findings) {
    if (finding.severity == Severity::Error) return Verdict::Invalid;
    if (finding.severity == Severity::Warning) verdict = Verdict::Warning;
  }
  return verdict;
}

// "PG0002,PG0004": the sorted codes of the findings, for compact table expectations.
std::string codesOf(const std::vector<Finding>& findings) {
  std::vector<std::string> codes;
  for (const Finding& finding : findings) codes.push_back(codeString(finding.code));
  std::sort(codes.begin(), codes.end());
  std::string out;
  for (const std::string& code : codes) out += (out.empty() ? "" : ",") + code;
  return out;
}

std::string describe(const std::vector<Finding>& findings) {
  std::string out;
  for (const Finding& finding : findings) {
    out += codeString(finding.code) + " " + std::string(toString(finding.severity)) + " " +
           finding.path + ": " + finding.message + "\n";
  }
  return out;
}

// A mode as the decoder would give it: the CRD strings are valid, anything else is not.
ModeValue mode(const std::string& text) {
  if (text.empty() || text == "UNSET") return {text, Mode::Unset, true};
  if (text == "DISABLE") return {text, Mode::Disable, true};
  if (text == "PERMISSIVE") return {text, Mode::Permissive, true};
  if (text == "STRICT") return {text, Mode::Strict, true};
  return {text, Mode::Unset, false};
}

PortLevelEntry port(const std::string& key, const std::string& mode_text = "STRICT") {
  PortLevelEntry entry;
  entry.key = key;
  int64_t number = 0;
  const char* end = key.data() + key.size();
  const auto [ptr, error] = std::from_chars(key.data(), end, number);
  if (!key.empty() && error == std::errc() && ptr == end) entry.port = number;
  entry.mode = mode(mode_text);
  return entry;
}

using Ports = std::optional<std::vector<PortLevelEntry>>;

PeerAuthentication policy(std::optional<Labels> selector = std::nullopt,
                          const std::string& mtls = "", Ports ports = std::nullopt,
                          const std::string& name = "default",
                          const std::string& namespace_name = "bar") {
  PeerAuthentication out;
  out.meta.name = name;
  out.meta.namespace_name = namespace_name;
  out.meta.source = {"policies.yaml", 2, 17};
  out.api_version = "security.istio.io/v1";
  out.selector = std::move(selector);
  out.mtls = mode(mtls);
  out.port_level_mtls = std::move(ports);
  return out;
}

const Labels kHttpbin = {{"app", "httpbin"}};

const Finding* findCode(const std::vector<Finding>& findings, FindingCode code) {
  for (const Finding& finding : findings) {
    if (finding.code == code) return &finding;
  }
  return nullptr;
}

std::size_t countCode(const std::vector<Finding>& findings, FindingCode code) {
  return static_cast<std::size_t>(std::count_if(
      findings.begin(), findings.end(), [code](const Finding& f) { return f.code == code; }));
}

// The fields every finding of `policy` must carry, whatever the rule.
void requireWellFormed(const std::vector<Finding>& findings, const PeerAuthentication& p) {
  for (const Finding& finding : findings) {
    CAPTURE(codeString(finding.code), finding.path);
    // A selector label Istio admits but no pod can carry is downgraded to a Warning.
    const bool admitted_label = finding.code == FindingCode::InvalidLabel &&
                                finding.path.rfind("spec.selector", 0) == 0 &&
                                finding.severity == Severity::Warning;
    if (!admitted_label) CHECK(finding.severity == findingInfo(finding.code).severity);
    CHECK(finding.object == p.ref());
    CHECK(finding.source.file == p.meta.source.file);
    CHECK(finding.source.document == p.meta.source.document);
    CHECK(finding.source.line == p.meta.source.line);
    CHECK_FALSE(finding.path.empty());
    CHECK_FALSE(finding.message.empty());
    CHECK_FALSE(finding.hint.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// Istio's own test tables: pkg/config/validation/validation_test.go TestValidatePeerAuthentication
// (webhook; the policy is in namespace "bar") and pkg/config/validation/testdata/crds/
// peerauth-{valid,invalid}.yaml (CRD; no namespace). Inputs and verdicts restated as data.

TEST_CASE("gives Istio's verdict on every case of Istio's PeerAuthentication test tables",
          "[validate]") {
  const auto [name, input, expected,
              codes] = GENERATE(table<std::string, PeerAuthentication, Verdict, std::string>({
      // Webhook table (TestValidatePeerAuthentication).
      {"empty spec", policy(), Verdict::Valid, ""},
      {"empty mtls with selector of empty labels", policy(Labels{}), Verdict::Warning, "PG0008"},
      {"empty spec with non default name", policy(std::nullopt, "", std::nullopt, "foo"),
       Verdict::Valid, ""},
      {"default name with non empty selector", policy(kHttpbin), Verdict::Valid, ""},
      {"empty port level mtls", policy(kHttpbin, "", std::vector<PortLevelEntry>{}, "foo"),
       Verdict::Invalid, "PG0003"},
      {"empty selector with port level mtls",
       policy(std::nullopt, "", std::vector{port("8080", "UNSET")}), Verdict::Invalid, "PG0002"},
      {"port 0", policy(std::nullopt, "", std::vector{port("0", "UNSET")}, "foo"), Verdict::Invalid,
       "PG0002,PG0004"},
      {"unset mode", policy(std::nullopt, "UNSET"), Verdict::Valid, ""},
      {"port level", policy(kHttpbin, "", std::vector{port("8080", "UNSET")}, "port-level"),
       Verdict::Valid, ""},
      // CRD valid documents (peerauth-valid.yaml).
      {"crd full",
       policy(Labels{{"foo", "bar"}}, "PERMISSIVE", std::vector{port("80", "STRICT")}, "full", ""),
       Verdict::Valid, ""},
      // Valid for the CRD; Istio's webhook warns about the empty selector.
      {"crd partial-selector", policy(Labels{}, "", std::nullopt, "partial-selector", ""),
       Verdict::Warning, "PG0008"},
      // CRD invalid documents (peerauth-invalid.yaml).
      {"crd bad-mode", policy(std::nullopt, "BLAH", std::nullopt, "bad-mode", ""), Verdict::Invalid,
       "PG0001"},
      {"crd bad-port", policy(Labels{{"foo", "bar"}}, "", std::vector{port("acd")}, "bad-port", ""),
       Verdict::Invalid, "PG0005"},
      {"crd port-level-global",
       policy(std::nullopt, "", std::vector{port("80")}, "port-level-global", ""), Verdict::Invalid,
       "PG0002"},
      {"crd empty-port-level",
       policy(Labels{{"foo", "bar"}}, "", std::vector<PortLevelEntry>{}, "empty-port-level", ""),
       Verdict::Invalid, "PG0003"},
      {"crd zero-port", policy(Labels{{"foo", "bar"}}, "", std::vector{port("0")}, "zero-port", ""),
       Verdict::Invalid, "PG0004"},
      {"crd high-port",
       policy(Labels{{"foo", "bar"}}, "", std::vector{port("42949672")}, "high-port", ""),
       Verdict::Invalid, "PG0004"},
  }));
  CAPTURE(name);
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  CHECK(verdictOf(findings) == expected);
  CHECK(codesOf(findings) == codes);
  requireWellFormed(findings, input);
}

// ---------------------------------------------------------------------------------------------
// One TEST_CASE per rule.

TEST_CASE("rejects portLevelMtls on a policy without selector labels", "[validate]") {
  const auto [name, selector, codes] =
      GENERATE(table<std::string, std::optional<Labels>, std::string>({
          {"no selector", std::nullopt, "PG0002"},
          {"selector without labels", Labels{}, "PG0002,PG0008"},
          {"selector with labels", kHttpbin, ""},
      }));
  CAPTURE(name);
  const PeerAuthentication input = policy(selector, "STRICT", std::vector{port("8080", "DISABLE")});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  CHECK(codesOf(findings) == codes);
  requireWellFormed(findings, input);
  if (const Finding* finding = findCode(findings, FindingCode::PortLevelMtlsWithoutSelector)) {
    CHECK(finding->severity == Severity::Error);
    CHECK(finding->path == "spec.portLevelMtls");
    CHECK(finding->message == "mesh/namespace peer authentication cannot have port level mTLS");
    CHECK(finding->hint ==
          "Add spec.selector.matchLabels naming the workload, or move the port rules into a "
          "workload policy.");
  }
}

TEST_CASE("rejects a portLevelMtls that is present but empty", "[validate]") {
  const auto [name, selector, ports, codes] =
      GENERATE(table<std::string, std::optional<Labels>, Ports, std::string>({
          {"empty, with a selector", kHttpbin, std::vector<PortLevelEntry>{}, "PG0003"},
          // Istio's first rule needs a non-empty map, so only the emptiness is reported.
          {"empty, without a selector", std::nullopt, std::vector<PortLevelEntry>{}, "PG0003"},
          {"absent", kHttpbin, std::nullopt, ""},
          {"one entry", kHttpbin, std::vector{port("9000")}, ""},
      }));
  CAPTURE(name);
  const PeerAuthentication input = policy(selector, "", ports);
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  CHECK(codesOf(findings) == codes);
  requireWellFormed(findings, input);
  if (const Finding* finding = findCode(findings, FindingCode::EmptyPortLevelMtls)) {
    CHECK(finding->severity == Severity::Error);
    CHECK(finding->path == "spec.portLevelMtls");
    CHECK(finding->message == "port level mTLS, if defined, must have at least one element");
  }
}

TEST_CASE("rejects portLevelMtls keys outside 1..65535", "[validate]") {
  const auto [key, in_range] = GENERATE(table<std::string, bool>({
      {"0", false},
      {"65536", false},
      {"42949672", false},
      {"-1", false},
      {"1", true},
      {"80", true},
      {"65535", true},
  }));
  CAPTURE(key);
  const PeerAuthentication input = policy(kHttpbin, "", std::vector{port(key)});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  if (in_range) {
    CHECK(findings.empty());
  } else {
    REQUIRE(findings.size() == 1);
    CHECK(findings[0].code == FindingCode::PortOutOfRange);
    CHECK(findings[0].severity == Severity::Error);
    CHECK(findings[0].path == "spec.portLevelMtls." + key);
    CHECK(findings[0].message == "port must be in range 1..65535");
  }
}

TEST_CASE("reports both errors for port 0 without a selector, as Istio accumulates them",
          "[validate]") {
  const PeerAuthentication input =
      policy(std::nullopt, "", std::vector{port("0", "UNSET"), port("8080")});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].code == FindingCode::PortLevelMtlsWithoutSelector);
  CHECK(findings[0].path == "spec.portLevelMtls");
  CHECK(findings[1].code == FindingCode::PortOutOfRange);
  CHECK(findings[1].path == "spec.portLevelMtls.0");
}

TEST_CASE("rejects portLevelMtls keys that are not numbers", "[validate]") {
  const auto [key, message] = GENERATE(table<std::string, std::string>({
      {"acd",
       R"(portLevelMtls key "acd" is not a port number: type conversion error from 'string' to 'int')"},
      {"http",
       R"(portLevelMtls key "http" is not a port number: type conversion error from 'string' to 'int')"},
      {"80a",
       R"(portLevelMtls key "80a" is not a port number: type conversion error from 'string' to 'int')"},
      {"",
       R"(portLevelMtls key "" is not a port number: type conversion error from 'string' to 'int')"},
  }));
  CAPTURE(key);
  const PeerAuthentication input = policy(kHttpbin, "", std::vector{port(key)});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::PortNotNumeric);
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].path == (key.empty() ? "spec.portLevelMtls" : "spec.portLevelMtls." + key));
  CHECK(findings[0].message == message);
  CHECK_THAT(findings[0].message, Catch::Contains("type conversion error"));
}

TEST_CASE("rejects an empty selector key", "[validate]") {
  const auto [value, message] = GENERATE(table<std::string, std::string>({
      {"v1", R"(empty key is not supported in selector: "=v1")"},
      {"", R"(empty key is not supported in selector: "=")"},
      // Go's %q escapes quotes and backslashes.
      {R"(a"b\c)", R"(empty key is not supported in selector: "=a\"b\\c")"},
  }));
  CAPTURE(value);
  const PeerAuthentication input = policy(Labels{{"", value}, {"app", "httpbin"}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  // Reported once, as an empty key: not again as a label-syntax error.
  REQUIRE(findings.size() == (value == "v1" || value.empty() ? 1u : 2u));
  CHECK(findings[0].code == FindingCode::EmptySelectorKey);
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].path == "spec.selector.matchLabels");
  CHECK(findings[0].message == message);
  CHECK(countCode(findings, FindingCode::EmptySelectorKey) == 1);
  if (findings.size() == 2) {
    // The value `a"b\c` itself breaks label syntax.
    CHECK(findings[1].code == FindingCode::InvalidLabel);
  }
}

TEST_CASE("rejects a wildcard in a selector key or value", "[validate]") {
  const auto [key, value, message] = GENERATE(table<std::string, std::string, std::string>({
      {"app", "httpbin-*", R"(wildcard is not supported in selector: "app=httpbin-*")"},
      {"app", "*", R"(wildcard is not supported in selector: "app=*")"},
      {"ap*", "httpbin", R"(wildcard is not supported in selector: "ap*=httpbin")"},
      {"*", "*", R"(wildcard is not supported in selector: "*=*")"},
  }));
  CAPTURE(key, value);
  const PeerAuthentication input = policy(Labels{{key, value}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  // One finding: the wildcard is not reported again as a label-syntax error.
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::WildcardInSelector);
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].path == "spec.selector.matchLabels." + key);
  CHECK(findings[0].message == message);
}

TEST_CASE("reports an empty key with a wildcard value once per rule, at the matchLabels path",
          "[validate]") {
  const PeerAuthentication input = policy(Labels{{"", "web-*"}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].code == FindingCode::EmptySelectorKey);
  CHECK(findings[0].message == R"(empty key is not supported in selector: "=web-*")");
  CHECK(findings[1].code == FindingCode::WildcardInSelector);
  CHECK(findings[1].message == R"(wildcard is not supported in selector: "=web-*")");
  for (const Finding& finding : findings) CHECK(finding.path == "spec.selector.matchLabels");
}

TEST_CASE("warns about a selector present without labels", "[validate]") {
  const auto [name, selector, warns] = GENERATE(table<std::string, std::optional<Labels>, bool>({
      {"selector: {}", Labels{}, true},
      {"no selector", std::nullopt, false},
      {"selector with labels", kHttpbin, false},
  }));
  CAPTURE(name);
  const PeerAuthentication input = policy(selector, "STRICT");
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  if (!warns) {
    CHECK(findings.empty());
    return;
  }
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::SelectorWithoutLabels);
  CHECK(findings[0].severity == Severity::Warning);
  CHECK(findings[0].path == "spec.selector");
  CHECK(findings[0].message == "workload selector specified without labels");
  CHECK(verdictOf(findings) == Verdict::Warning);
}

TEST_CASE("rejects an mTLS mode other than UNSET, DISABLE, PERMISSIVE or STRICT", "[validate]") {
  constexpr const char* kSupported =
      R"(: supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT")";
  const auto [text, valid] = GENERATE(table<std::string, bool>({
      {"BLAH", false},
      {"strict", false},
      {R"(ST"RICT)", false},
      {"UNSET", true},
      {"DISABLE", true},
      {"PERMISSIVE", true},
      {"STRICT", true},
      {"", true},
  }));
  CAPTURE(text);

  SECTION("in spec.mtls.mode") {
    const PeerAuthentication input = policy(std::nullopt, text);
    const std::vector<Finding> findings = validatePeerAuthentication(input);
    CAPTURE(describe(findings));
    requireWellFormed(findings, input);
    if (valid) {
      CHECK(findings.empty());
    } else {
      REQUIRE(findings.size() == 1);
      CHECK(findings[0].code == FindingCode::InvalidMode);
      CHECK(findings[0].path == "spec.mtls.mode");
    }
  }
  SECTION("in a portLevelMtls entry") {
    const PeerAuthentication input =
        policy(kHttpbin, "STRICT", std::vector{port("8080", text), port("9090", "DISABLE")});
    const std::vector<Finding> findings = validatePeerAuthentication(input);
    CAPTURE(describe(findings));
    requireWellFormed(findings, input);
    if (valid) {
      CHECK(findings.empty());
    } else {
      REQUIRE(findings.size() == 1);
      CHECK(findings[0].code == FindingCode::InvalidMode);
      CHECK(findings[0].path == "spec.portLevelMtls.8080.mode");
    }
  }
  SECTION("with the API server's message") {
    if (!valid) {
      const std::vector<Finding> findings = validatePeerAuthentication(policy(std::nullopt, text));
      REQUIRE(findings.size() == 1);
      const std::string quoted = text == R"(ST"RICT)" ? R"("ST\"RICT")" : "\"" + text + "\"";
      CHECK(findings[0].message == "Unsupported value: " + quoted + kSupported);
      CHECK(findings[0].severity == Severity::Error);
    }
  }
}

TEST_CASE("reports the exact message for the CRD's BLAH example", "[validate]") {
  const std::vector<Finding> findings = validatePeerAuthentication(policy(std::nullopt, "BLAH"));
  REQUIRE(findings.size() == 1);
  CHECK(
      findings[0].message ==
      R"(Unsupported value: "BLAH": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT")");
}

TEST_CASE("accepts what Istio accepts: any namespace, any name, UNSET or missing mode",
          "[validate]") {
  const auto [name, input] = GENERATE(table<std::string, PeerAuthentication>({
      {"selector policy in the root namespace",
       policy(kHttpbin, "STRICT", std::nullopt, "httpbin", "istio-system")},
      {"mesh-wide policy not named default",
       policy(std::nullopt, "STRICT", std::nullopt, "mesh-strict", "istio-system")},
      {"namespace policy named default with a selector", policy(kHttpbin, "DISABLE")},
      {"no mtls at all", policy(kHttpbin)},
      {"UNSET mode", policy(std::nullopt, "UNSET")},
      {"UNSET port entry", policy(kHttpbin, "STRICT", std::vector{port("8080", "UNSET")})},
      {"port entry without a mode", policy(kHttpbin, "STRICT", std::vector{port("8080", "")})},
      {"no namespace in the document", policy(std::nullopt, "STRICT", std::nullopt, "x", "")},
      {"prefixed selector key",
       policy(Labels{{"app.kubernetes.io/name", "httpbin"}, {"version", ""}})},
      {"selector value of exactly 63 characters", policy(Labels{{"app", std::string(63, 'a')}})},
      {"several ports", policy(kHttpbin, "PERMISSIVE",
                               std::vector{port("1"), port("8080", "DISABLE"), port("65535")})},
  }));
  CAPTURE(name);
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  CHECK(findings.empty());
}

TEST_CASE("rejects selector values over the CRD length and warns on label syntax Istio admits",
          "[validate]") {
  const std::string admitted = "; Istio accepts it, but no pod can carry this label";
  const auto [key, value, message] = GENERATE_COPY(table<std::string, std::string, std::string>({
      {"app", std::string(64, 'a'),
       R"(label value for key "app" is 64 characters long, but the CRD allows at most 63 (the API server rejects it even though Istio's webhook accepts it))"},
      {"bad key", "httpbin",
       R"(label key "bad key" is invalid: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'))"},
      {"app", "-httpbin",
       R"(label value "-httpbin" of key "app" is invalid: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'))"},
      {"/app", "httpbin", R"(label key "/app" is invalid: prefix part must be non-empty)"},
      {"a/b/c", "x",
       R"(label key "a/b/c" is invalid: a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName'))"},
  }));
  CAPTURE(key, value);
  const PeerAuthentication input = policy(Labels{{key, value}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::InvalidLabel);
  const bool too_long = value.size() > 63;
  CHECK(findings[0].severity == (too_long ? Severity::Error : Severity::Warning));
  CHECK(findings[0].path == "spec.selector.matchLabels." + key);
  CHECK(findings[0].message == (too_long ? message : message + admitted));
}

TEST_CASE("reports a selector label with a bad key and a bad value as one finding", "[validate]") {
  const PeerAuthentication input = policy(Labels{{"bad key", "bad value"}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::InvalidLabel);
  CHECK_THAT(findings[0].message, Catch::StartsWith(R"(label key "bad key" is invalid)") &&
                                      Catch::Contains(R"(label value "bad value" of key)"));
}

TEST_CASE("checks the CRD value length even on a wildcard selector value", "[validate]") {
  const std::string value = std::string(70, 'a') + "*";
  const PeerAuthentication input = policy(Labels{{"app", value}});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  CHECK(codesOf(findings) == "PG0007,PG0009");
  const Finding* length = findCode(findings, FindingCode::InvalidLabel);
  REQUIRE(length != nullptr);
  CHECK_THAT(length->message, Catch::Contains("71 characters long"));
}

TEST_CASE("rejects metadata labels that break Kubernetes label syntax", "[validate]") {
  const auto [key, value, valid] = GENERATE(table<std::string, std::string, bool>({
      {"app", "httpbin", true},
      {"app", "", true},
      {"app.kubernetes.io/name", "my_value.1", true},
      {"A-b_c.D", "X", true},
      {std::string(63, 'k'), std::string(63, 'v'), true},
      {std::string(64, 'k'), "v", false},
      {"app", std::string(64, 'v'), false},
      {"", "v", false},
      {"/app", "v", false},
      {"app/", "v", false},
      {"Example.com/app", "v", false},
      {"a/b/c", "v", false},
      {"-app", "v", false},
      {"app", "has space", false},
      {"app", "trailing-", false},
      {"app", "caf\xc3\xa9", false},
  }));
  CAPTURE(key, value);
  ObjectMeta meta;
  meta.name = "httpbin";
  meta.namespace_name = "bar";
  meta.labels = {{key, value}};
  meta.source = {"pods.yaml", 0, 1};
  const ObjectRef ref{"Pod", "bar", "httpbin"};
  const std::vector<Finding> findings = validateObjectMeta(meta, ref);
  CAPTURE(describe(findings));
  if (valid) {
    CHECK(findings.empty());
    return;
  }
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::InvalidLabel);
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].object == ref);
  CHECK(findings[0].path == (key.empty() ? "metadata.labels" : "metadata.labels." + key));
  CHECK(findings[0].source.file == "pods.yaml");
  CHECK_FALSE(findings[0].hint.empty());
}

TEST_CASE("reports a bad metadata label with Kubernetes' wording", "[validate]") {
  ObjectMeta meta;
  meta.name = "httpbin";
  meta.labels = {{"Example.com/app", "v"}, {"tier", std::string(64, 'x')}};
  const std::vector<Finding> findings = validateObjectMeta(meta, {"Pod", "", "httpbin"});
  CAPTURE(describe(findings));
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].path == "metadata.labels.Example.com/app");
  CHECK(
      findings[0].message ==
      R"(label key "Example.com/app" is invalid: prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'))");
  CHECK(findings[1].path == "metadata.labels.tier");
  CHECK(findings[1].message ==
        "label value \"" + std::string(64, 'x') +
            "\" of key \"tier\" is invalid: must be no more than 63 characters");
}

TEST_CASE("rejects a metadata.name that is not a DNS-1123 subdomain", "[validate]") {
  const auto [name, valid] = GENERATE(table<std::string, bool>({
      {"default", true},
      {"httpbin-strict", true},
      {"foo.bar", true},
      {"0abc", true},
      {std::string(253, 'a'), true},
      {std::string(254, 'a'), false},
      {"Foo", false},
      {"foo_bar", false},
      {"-foo", false},
      {"foo-", false},
      {"foo.", false},
      {".foo", false},
      {"a..b", false},
      {"", false},
  }));
  CAPTURE(name);
  ObjectMeta meta;
  meta.name = name;
  meta.namespace_name = "bar";
  const ObjectRef ref{"PeerAuthentication", "bar", name};
  const std::vector<Finding> findings = validateObjectMeta(meta, ref);
  CAPTURE(describe(findings));
  if (valid) {
    CHECK(findings.empty());
    return;
  }
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::InvalidName);
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].path == "metadata.name");
  CHECK(findings[0].object == ref);
  CHECK_FALSE(findings[0].hint.empty());
}

TEST_CASE("words a bad metadata.name as Kubernetes does", "[validate]") {
  ObjectMeta meta;
  meta.name = "Foo_Bar";
  std::vector<Finding> findings = validateObjectMeta(meta, {"PeerAuthentication", "", "Foo_Bar"});
  REQUIRE(findings.size() == 1);
  CHECK(
      findings[0].message ==
      R"(metadata.name "Foo_Bar" is invalid: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'))");

  meta.name = std::string(254, 'A');
  findings = validateObjectMeta(meta, {"PeerAuthentication", "", meta.name});
  REQUIRE(findings.size() == 1);
  CHECK_THAT(findings[0].message,
             Catch::Contains("is invalid: must be no more than 253 characters; a lowercase RFC "
                             "1123 subdomain must consist of"));

  meta.name = "";
  findings = validateObjectMeta(meta, {"PeerAuthentication", "", ""});
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].message ==
        "metadata.name is required: Kubernetes refuses an object without a name");
}

TEST_CASE("rejects a metadata.namespace that is not a DNS-1123 label", "[validate]") {
  const auto [namespace_name, valid] = GENERATE(table<std::string, bool>({
      {"bar", true},
      {"istio-system", true},
      {"", true},
      {std::string(63, 'n'), true},
      {std::string(64, 'n'), false},
      {"Bar", false},
      {"foo.bar", false},
      {"foo_bar", false},
      {"-bar", false},
  }));
  CAPTURE(namespace_name);
  ObjectMeta meta;
  meta.name = "default";
  meta.namespace_name = namespace_name;
  const std::vector<Finding> findings =
      validateObjectMeta(meta, {"PeerAuthentication", namespace_name, "default"});
  CAPTURE(describe(findings));
  if (valid) {
    CHECK(findings.empty());
    return;
  }
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == FindingCode::InvalidName);
  CHECK(findings[0].path == "metadata.namespace");
  CHECK_THAT(findings[0].message,
             Catch::StartsWith("metadata.namespace \"" + namespace_name + "\" is invalid: "));
  CHECK_THAT(findings[0].message, Catch::Contains("RFC 1123 label") ||
                                      Catch::Contains("must be no more than 63 characters"));
}

TEST_CASE("checks a Namespace's own name as a DNS-1123 label", "[validate]") {
  const auto [name, valid] = GENERATE(table<std::string, bool>({
      {"istio-system", true},
      {"foo.bar", false},
      {std::string(64, 'n'), false},
  }));
  CAPTURE(name);
  ObjectMeta meta;
  meta.name = name;
  const std::vector<Finding> findings = validateObjectMeta(meta, {"Namespace", "", name});
  CAPTURE(describe(findings));
  CHECK(findings.size() == (valid ? 0u : 1u));
  if (!valid) {
    CHECK(findings[0].code == FindingCode::InvalidName);
    CHECK(findings[0].path == "metadata.name");
    CHECK_THAT(findings[0].message, Catch::Contains("RFC 1123 label") ||
                                        Catch::Contains("must be no more than 63 characters"));
  }
}

TEST_CASE("includes the metadata findings in a PeerAuthentication's findings", "[validate]") {
  PeerAuthentication input = policy(kHttpbin, "STRICT", std::nullopt, "Strict_Policy", "Bar");
  input.meta.labels = {{"team", "a b"}};
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  CHECK(codesOf(findings) == "PG0009,PG0010,PG0010");
  CHECK(countCode(findings, FindingCode::InvalidName) == 2);
}

TEST_CASE("accumulates every error of a policy instead of stopping at the first", "[validate]") {
  PeerAuthentication input =
      policy(Labels{}, "BLAH", std::vector{port("0", "NOPE"), port("abc"), port("8080")});
  const std::vector<Finding> findings = validatePeerAuthentication(input);
  CAPTURE(describe(findings));
  requireWellFormed(findings, input);
  CHECK(codesOf(findings) == "PG0001,PG0001,PG0002,PG0004,PG0005,PG0008");
  std::set<std::string> paths;
  for (const Finding& finding : findings) paths.insert(finding.path);
  CHECK(paths == std::set<std::string>{"spec.mtls.mode", "spec.portLevelMtls",
                                       "spec.portLevelMtls.0", "spec.portLevelMtls.0.mode",
                                       "spec.portLevelMtls.abc", "spec.selector"});
}

TEST_CASE("gives every catalogued finding code a distinct code string that parses back",
          "[validate]") {
  std::set<std::string> codes;
  std::set<std::string_view> names;
  for (const FindingInfo& info : findingCatalogue()) {
    const std::string code = codeString(info.code);
    CAPTURE(code, info.name);
    CHECK(codes.insert(code).second);
    CHECK(names.insert(info.name).second);
    CHECK(code.size() == 6);
    CHECK(code.rfind("PG", 0) == 0);
    CHECK(parseCode(code) == info.code);
    CHECK(parseCode(info.name) == info.code);
    CHECK(&findingInfo(info.code) == &info);
    CHECK_FALSE(info.summary.empty());
  }
  CHECK(codes.size() == findingCatalogue().size());
  CHECK_FALSE(parseCode("PG9999").has_value());
  CHECK_FALSE(parseCode("").has_value());
}

TEST_CASE("gives the object rules the severities of the catalogue", "[validate]") {
  const auto [code, severity] = GENERATE(table<FindingCode, Severity>({
      {FindingCode::InvalidMode, Severity::Error},
      {FindingCode::PortLevelMtlsWithoutSelector, Severity::Error},
      {FindingCode::EmptyPortLevelMtls, Severity::Error},
      {FindingCode::PortOutOfRange, Severity::Error},
      {FindingCode::PortNotNumeric, Severity::Error},
      {FindingCode::EmptySelectorKey, Severity::Error},
      {FindingCode::WildcardInSelector, Severity::Error},
      {FindingCode::SelectorWithoutLabels, Severity::Warning},
      {FindingCode::InvalidLabel, Severity::Error},
      {FindingCode::InvalidName, Severity::Error},
  }));
  CAPTURE(codeString(code));
  CHECK(findingInfo(code).severity == severity);
}

}  // namespace
}  // namespace peergate::validation
