// Tests of probe rewriting: network probes go through the proxy's admin port, originals are
// recorded with named ports resolved, exec probes stay, and a rewrite can be undone.

#include "../../../webhook/src/probe_rewrite.h"

#include <string>

#include <catch2/catch.hpp>

namespace peergate::webhook {
namespace {

using Json = nlohmann::json;

Json podSpec() {
  return Json::parse(R"({
    "containers": [{
      "name": "web",
      "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 9090}],
      "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                         "periodSeconds": 5, "timeoutSeconds": 2},
      "livenessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 3},
      "startupProbe": {"grpc": {"port": 9090, "service": "health"}}
    }, {
      "name": "worker",
      "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
      "livenessProbe": {"httpGet": {"path": "/live", "port": "missing"}}
    }]
  })");
}

TEST_CASE("names the app-health path of each probe kind", "[inject][probes]") {
  CHECK(appProbePath("web", "readinessProbe") == "/app-health/web/readyz");
  CHECK(appProbePath("web", "livenessProbe") == "/app-health/web/livez");
  CHECK(appProbePath("web", "startupProbe") == "/app-health/web/startupz");
}

TEST_CASE("rewrites httpGet, tcpSocket and grpc probes to the admin port", "[inject][probes]") {
  Json spec = podSpec();
  rewriteAppProbes(spec, 15020);
  const Json& web = spec["containers"][0];
  CHECK(web["readinessProbe"] == Json::parse(R"({"httpGet": {"path": "/app-health/web/readyz",
      "port": 15020}, "periodSeconds": 5, "timeoutSeconds": 2})"));
  CHECK(web["livenessProbe"] == Json::parse(R"({"httpGet": {"path": "/app-health/web/livez",
      "port": 15020}, "failureThreshold": 3})"));
  CHECK(web["startupProbe"] == Json::parse(R"({"httpGet": {"path": "/app-health/web/startupz",
      "port": 15020}})"));
}

TEST_CASE("records the originals with named ports resolved to numbers", "[inject][probes]") {
  Json spec = podSpec();
  const Json probers = rewriteAppProbes(spec, 15020);
  CHECK(probers == Json::parse(R"({
    "/app-health/web/readyz": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                               "timeoutSeconds": 2},
    "/app-health/web/livez": {"tcpSocket": {"port": 8080}},
    "/app-health/web/startupz": {"grpc": {"port": 9090, "service": "health"}}
  })"));
}

TEST_CASE("leaves exec probes and unresolvable named ports alone", "[inject][probes]") {
  Json spec = podSpec();
  const Json worker_before = spec["containers"][1];
  const Json probers = rewriteAppProbes(spec, 15020);
  CHECK(spec["containers"][1] == worker_before);
  CHECK_FALSE(probers.contains("/app-health/worker/readyz"));
  CHECK_FALSE(probers.contains("/app-health/worker/livez"));
}

TEST_CASE("uses the given admin port", "[inject][probes]") {
  Json spec = podSpec();
  rewriteAppProbes(spec, 15099);
  CHECK(spec["containers"][0]["livenessProbe"]["httpGet"]["port"] == 15099);
}

TEST_CASE("restoring the recorded originals undoes the rewrite", "[inject][probes]") {
  Json spec = podSpec();
  const Json probers = rewriteAppProbes(spec, 15020);
  restoreAppProbes(spec, probers);
  Json expected = podSpec();
  expected["containers"][0]["readinessProbe"]["httpGet"]["port"] = 8080;  // resolved
  CHECK(spec == expected);
}

TEST_CASE("restoring then rewriting again gives the same probes and originals",
          "[inject][probes]") {
  Json spec = podSpec();
  const Json probers = rewriteAppProbes(spec, 15020);
  const Json rewritten = spec;
  restoreAppProbes(spec, probers);
  CHECK(rewriteAppProbes(spec, 15020) == probers);
  CHECK(spec == rewritten);
}

TEST_CASE("never records a probe that already points at the proxy", "[inject][probes]") {
  Json spec = podSpec();
  rewriteAppProbes(spec, 15020);
  const Json rewritten = spec;
  CHECK(rewriteAppProbes(spec, 15020).empty());
  CHECK(spec == rewritten);
}

TEST_CASE("the rewriteAppHTTPProbers annotation overrides the mesh default", "[inject][probes]") {
  const auto [value, mesh_default, enabled] = GENERATE(table<std::string, bool, bool>({
      {"", true, true},
      {"", false, false},
      {"true", false, true},
      {"false", true, false},
      {"maybe", true, true},
      {"maybe", false, false},
  }));
  CAPTURE(value, mesh_default);
  validation::Labels annotations;
  if (!value.empty()) annotations["sidecar.istio.io/rewriteAppHTTPProbers"] = value;
  CHECK(probeRewriteEnabled(annotations, mesh_default) == enabled);
}

}  // namespace
}  // namespace peergate::webhook
