// The observations file (docs/observations.md): JSON or YAML, validated field by field.
#include <catch2/catch.hpp>

#include <string>
#include <tuple>

#include "peergate/validation/observations.h"

using namespace peergate::validation;

namespace {

constexpr std::string_view kJson = R"({
  "apiVersion": "peergate.io/v1alpha1",
  "kind": "Observations",
  "window": {"start": "2026-03-09T00:00:00Z", "end": "2026-03-16T00:00:00Z"},
  "observations": [
    {
      "destination": {"namespace": "foo", "workload": "httpbin", "pod": "httpbin-6d8f-x2", "port": 8000},
      "security": "plaintext",
      "source": {"ip": "10.1.0.7", "identity": "", "workload": "legacy/curl"},
      "count": 12,
      "lastSeen": "2026-03-15T17:04:11Z"
    },
    {
      "destination": {"namespace": "foo", "workload": "httpbin", "pod": "httpbin-6d8f-x2", "port": 8000},
      "security": "mtls",
      "source": {"ip": "10.1.2.9", "identity": "spiffe://cluster.local/ns/bar/sa/curl", "workload": "bar/curl"},
      "count": 4031,
      "lastSeen": "2026-03-15T23:59:40Z"
    }
  ]
})";

constexpr std::string_view kYaml = R"(apiVersion: peergate.io/v1alpha1
kind: Observations
window: {start: "2026-03-09T00:00:00Z", end: "2026-03-16T00:00:00Z"}
observations:
  - destination: {namespace: foo, workload: httpbin, pod: httpbin-6d8f-x2, port: 8000}
    security: plaintext
    source: {ip: 10.1.0.7, identity: "", workload: legacy/curl}
    count: 12
    lastSeen: "2026-03-15T17:04:11Z"
  - destination: {namespace: foo, workload: httpbin, pod: httpbin-6d8f-x2, port: 8000}
    security: mtls
    source: {ip: 10.1.2.9, identity: "spiffe://cluster.local/ns/bar/sa/curl", workload: bar/curl}
    count: 4031
    lastSeen: "2026-03-15T23:59:40Z"
)";

std::string yamlWithEntry(const std::string& entry) {
  return "apiVersion: peergate.io/v1alpha1\n"
         "kind: Observations\n"
         "observations:\n"
         "  - destination: {namespace: foo, port: 8000}\n"
         "    security: mtls\n" +
         entry;
}

}  // namespace

TEST_CASE("decodes the documented observations file in JSON and YAML", "[decode][observations]") {
  const std::string_view text = GENERATE(kJson, kYaml);
  const auto result = decodeObservations(text, "observations.json");
  if (!result) FAIL(result.error().describe());
  const Observations& observations = result.value();
  CHECK(observations.window_start == "2026-03-09T00:00:00Z");
  CHECK(observations.window_end == "2026-03-16T00:00:00Z");
  REQUIRE(observations.entries.size() == 2);
  const Observation& plaintext = observations.entries[0];
  CHECK(plaintext.namespace_name == "foo");
  CHECK(plaintext.workload == "httpbin");
  CHECK(plaintext.pod == "httpbin-6d8f-x2");
  CHECK(plaintext.port == 8000);
  CHECK(plaintext.security == "plaintext");
  CHECK(plaintext.source_ip == "10.1.0.7");
  CHECK(plaintext.source_identity.empty());
  CHECK(plaintext.source_workload == "legacy/curl");
  CHECK(plaintext.count == 12);
  CHECK(plaintext.last_seen == "2026-03-15T17:04:11Z");
  const Observation& mtls = observations.entries[1];
  CHECK(mtls.security == "mtls");
  CHECK(mtls.source_identity == "spiffe://cluster.local/ns/bar/sa/curl");
  CHECK(mtls.count == 4031);
}

TEST_CASE("an observations file with no entries is valid", "[decode][observations]") {
  const auto result = decodeObservations(
      R"({"apiVersion":"peergate.io/v1alpha1","kind":"Observations","observations":[]})", "o.json");
  REQUIRE(result.ok());
  CHECK(result.value().entries.empty());
}

TEST_CASE("observations errors name the entry, the field and the line", "[decode][observations]") {
  using Row = std::tuple<std::string, std::string, std::string, int, std::string>;
  auto [text, code, path, line,
        message] = GENERATE(table<std::string, std::string, std::string, int, std::string>({
      Row{"apiVersion: peergate.io/v1\nkind: Observations\n", "schema.value", "apiVersion", 1,
          "expected peergate.io/v1alpha1, got \"peergate.io/v1\""},
      Row{"apiVersion: peergate.io/v1alpha1\nkind: Observation\n", "schema.value", "kind", 2,
          "expected Observations, got \"Observation\""},
      Row{"kind: Observations\n", "schema.required", "apiVersion", 1,
          "is required: apiVersion: peergate.io/v1alpha1"},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: 0}\n    security: mtls\n"),
          "schema.value", "observations[1].destination.port", 6, "port 0 is outside 1..65535"},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: 70000}\n    security: mtls\n"),
          "schema.value", "observations[1].destination.port", 6, "port 70000 is outside 1..65535"},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: http}\n    security: mtls\n"),
          "schema.type", "observations[1].destination.port", 6,
          "expected an integer, got a string"},
      Row{yamlWithEntry("  - destination: {port: 8000}\n    security: mtls\n"), "schema.required",
          "observations[1].destination.namespace", 6, "is required: the destination namespace"},
      Row{yamlWithEntry("  - destination: {namespace: \"\", port: 8000}\n    security: mtls\n"),
          "schema.value", "observations[1].destination.namespace", 6, "must not be empty"},
      Row{yamlWithEntry("  - security: mtls\n"), "schema.required", "observations[1].destination",
          6, "is required: every observation names its destination"},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: 8000}\n    security: tls\n"),
          "schema.value", "observations[1].security", 7,
          "expected \"plaintext\", \"mtls\" or \"tls_passthrough\", got \"tls\""},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: 8000}\n"), "schema.required",
          "observations[1].security", 6,
          "is required: \"plaintext\", \"mtls\" or \"tls_passthrough\""},
      Row{yamlWithEntry("  - destination: {namespace: foo, port: 8000}\n    security: mtls\n"
                        "    count: -1\n"),
          "schema.value", "observations[1].count", 8, "a count cannot be negative"},
      Row{yamlWithEntry("  - just a string\n"), "schema.type", "observations[1]", 6,
          "expected a map with destination, security and count, got a string"},
      Row{"apiVersion: peergate.io/v1alpha1\nkind: Observations\nobservations: {}\n", "schema.type",
          "observations", 3, "expected a list, got a map"},
      Row{"[1, 2]", "schema.type", "", 1,
          "expected an Observations document (a map with apiVersion and kind), got a list"},
  }));
  CAPTURE(text);
  const auto result = decodeObservations(text, "obs.yaml");
  REQUIRE_FALSE(result.ok());
  const Error& error = result.error();
  CHECK(error.code == code);
  CHECK(error.file == "obs.yaml");
  CHECK(error.path == path);
  CHECK(error.line == line);
  CHECK(error.message == message);
  CHECK(error.describe() ==
        "obs.yaml:" + std::to_string(line) + ": " + (path.empty() ? "" : path + ": ") + message);
}

TEST_CASE("observations with several problems report the first and count the rest",
          "[decode][observations]") {
  const auto result = decodeObservations(
      yamlWithEntry("  - destination: {namespace: foo, port: 0}\n    security: x\n    count: -2\n"),
      "obs.yaml");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().path == "observations[1].destination.port");
  CHECK(result.error().message == "port 0 is outside 1..65535 (and 2 more problems)");
}

TEST_CASE("broken observations files are one error with a line", "[decode][observations]") {
  using Row = std::tuple<std::string, std::string, int>;
  auto [text, code, line] = GENERATE(table<std::string, std::string, int>({
      Row{"{\"apiVersion\": \"peergate.io/v1alpha1\",\n\"kind\": ", "json.syntax", 2},
      Row{"{\"kind\": \"Observations\",\n\"kind\": \"Observations\"}", "json.duplicate_key", 2},
      Row{"apiVersion: [\n", "yaml.syntax", 2},
      Row{std::string("\0\1\2", 3), "input.binary", 1},
  }));
  const auto result = decodeObservations(text, "obs.json");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == code);
  CHECK(result.error().line == line);
  CHECK(result.error().file == "obs.json");
}

TEST_CASE("an empty observations text is an error, not an empty window", "[decode][observations]") {
  const auto result = decodeObservations("", "obs.yaml");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == "schema.type");
}
