#include <catch2/catch.hpp>

#include "fixtures.h"
#include "peergate/validation/resolve.h"

using namespace peergate::validation;
using namespace peergate::validation::testing;

namespace {

const Labels kHttpbin = {{"app", "httpbin"}};

Inputs fooWithHttpbin() {
  Inputs in;
  in.namespaces.push_back(ns("foo", {{"istio-injection", "enabled"}}));
  in.workloads.push_back(
      workload({.ns = "foo", .name = "httpbin", .labels = kHttpbin, .ports = {8000, 9090}}));
  return in;
}

// Only for value fields: the policy pointers of the result dangle once the state is gone.
EffectivePolicy resolveHttpbin(Inputs in) {
  ClusterState state(std::move(in));
  REQUIRE(state.workloads().size() == 1);
  return resolveWorkload(state, *state.workloads().front());
}

}  // namespace

TEST_CASE("with no policy every workload is PERMISSIVE by mesh default", "[resolve]") {
  EffectivePolicy e = resolveHttpbin(fooWithHttpbin());
  CHECK(e.mode == Mode::Permissive);
  CHECK(e.decided_by.scope == Scope::MeshDefault);
  CHECK(e.sidecar);
  REQUIRE(e.ports.size() == 2);
  CHECK(e.ports[0].port == 8000);
  CHECK(e.ports[0].mode == Mode::Permissive);
}

TEST_CASE("the narrower scope wins whatever its strictness, and UNSET inherits", "[resolve]") {
  using Row = std::tuple<Mode, Mode, Mode, Mode, Scope>;  // mesh, namespace, workload -> result
  auto [mesh, nsmode, wl, expected, scope] = GENERATE(table<Mode, Mode, Mode, Mode, Scope>({
      Row{Mode::Strict, Mode::Unset, Mode::Unset, Mode::Strict, Scope::Mesh},
      Row{Mode::Strict, Mode::Permissive, Mode::Unset, Mode::Permissive, Scope::Namespace},
      Row{Mode::Permissive, Mode::Strict, Mode::Unset, Mode::Strict, Scope::Namespace},
      Row{Mode::Strict, Mode::Strict, Mode::Disable, Mode::Disable, Scope::Workload},
      Row{Mode::Disable, Mode::Unset, Mode::Strict, Mode::Strict, Scope::Workload},
      Row{Mode::Unset, Mode::Unset, Mode::Unset, Mode::Permissive, Scope::MeshDefault},
      Row{Mode::Disable, Mode::Unset, Mode::Unset, Mode::Disable, Scope::Mesh},
  }));
  CAPTURE(toString(mesh), toString(nsmode), toString(wl));
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = mesh}));
  in.peer_authentications.push_back(policy({.ns = "foo", .name = "default", .mode = nsmode}));
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "httpbin", .mode = wl, .selector = kHttpbin}));
  EffectivePolicy e = resolveHttpbin(std::move(in));
  CHECK(e.mode == expected);
  CHECK(e.decided_by.scope == scope);
}

TEST_CASE("the oldest namespace-wide policy wins and the others are shadowed", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "b-newer", .mode = Mode::Disable, .created = "2024-02-01T00:00:00Z"}));
  in.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "a-older", .mode = Mode::Strict, .created = "2024-01-01T00:00:00Z"}));
  EffectivePolicy e = resolveHttpbin(std::move(in));
  CHECK(e.mode == Mode::Strict);
  CHECK(e.decided_by.policy.name == "a-older");
  REQUIRE(e.shadowed.size() == 1);
  CHECK(e.shadowed[0].policy.name == "b-newer");
  CHECK_THAT(e.shadowed[0].reason, Catch::Contains("foo/a-older is older"));
}

TEST_CASE("equal creation times are ordered by name", "[resolve]") {
  Inputs in = fooWithHttpbin();
  const std::string t = "2024-01-01T00:00:00Z";
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "zeta", .mode = Mode::Disable, .created = t}));
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "alpha", .mode = Mode::Strict, .created = t}));
  CHECK(resolveHttpbin(std::move(in)).decided_by.policy.name == "alpha");
}

TEST_CASE("a policy not yet created is newer than every existing one", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "aaa-new", .mode = Mode::Disable}));
  in.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "zzz-old", .mode = Mode::Strict, .created = "2020-01-01T00:00:00Z"}));
  CHECK(resolveHttpbin(std::move(in)).decided_by.policy.name == "zzz-old");
}

TEST_CASE("workload policies are never merged: only the oldest applies, ports too", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(policy({.ns = "foo",
                                            .name = "old",
                                            .mode = Mode::Strict,
                                            .selector = kHttpbin,
                                            .created = "2024-01-01T00:00:00Z"}));
  in.peer_authentications.push_back(policy({.ns = "foo",
                                            .name = "new",
                                            .mode = Mode::Unset,
                                            .selector = Labels{{"app", "httpbin"}},
                                            .ports = {{9090, Mode::Disable}},
                                            .created = "2024-03-01T00:00:00Z"}));
  // The result points into the state: keep the state alive while reading the pointers.
  ClusterState state(std::move(in));
  const EffectivePolicy e = resolveWorkload(state, *state.workloads().front());
  CHECK(e.mode == Mode::Strict);
  CHECK(e.modeForPort(9090) == Mode::Strict);
  REQUIRE(e.ignored_workload_policies.size() == 1);
  CHECK(e.ignored_workload_policies[0]->meta.name == "new");
}

TEST_CASE("portLevelMtls applies per container port and UNSET entries inherit", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "default", .mode = Mode::Disable}));
  in.peer_authentications.push_back(
      policy({.ns = "foo",
              .name = "httpbin",
              .mode = Mode::Strict,
              .selector = kHttpbin,
              .ports = {{9090, Mode::Permissive}, {8000, Mode::Unset}, {7070, Mode::Disable}}}));
  EffectivePolicy e = resolveHttpbin(std::move(in));
  CHECK(e.mode == Mode::Strict);
  CHECK(e.modeForPort(9090) == Mode::Permissive);
  CHECK(e.modeForPort(8000) == Mode::Strict);
  CHECK(e.modeForPort(7070) == Mode::Disable);
  // Listed: both container ports plus the policy-only port 7070.
  REQUIRE(e.ports.size() == 3);
  CHECK(e.ports[0].port == 7070);
  CHECK_FALSE(e.ports[0].declared_by_container);
  CHECK(e.ports[2].decided_by.rule == "spec.portLevelMtls.9090");
}

TEST_CASE("port rules on a namespace-wide policy are ignored", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(policy(
      {.ns = "foo", .name = "default", .mode = Mode::Strict, .ports = {{9090, Mode::Disable}}}));
  EffectivePolicy e = resolveHttpbin(std::move(in));
  CHECK(e.modeForPort(9090) == Mode::Strict);
}

TEST_CASE("a selector policy in the root namespace is ignored", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.workloads.push_back(workload(
      {.ns = "istio-system", .name = "gateway", .labels = {{"app", "gw"}}, .proxy = true}));
  in.peer_authentications.push_back(policy({.ns = "istio-system",
                                            .name = "gw-strict",
                                            .mode = Mode::Strict,
                                            .selector = Labels{{"app", "gw"}}}));
  in.peer_authentications.push_back(policy(
      {.ns = "istio-system", .name = "httpbin", .mode = Mode::Strict, .selector = kHttpbin}));
  ClusterState state(std::move(in));
  for (const EffectivePolicy& e : resolveAll(state)) {
    CAPTURE(e.workload->meta.name);
    CHECK(e.mode == Mode::Permissive);
    CHECK(e.decided_by.scope == Scope::MeshDefault);
  }
  const EffectivePolicy gw = resolveWorkload(state, *state.workloadsIn("istio-system").front());
  REQUIRE(gw.shadowed.size() == 1);
  CHECK_THAT(gw.shadowed[0].reason, Catch::Contains("root namespace"));
}

TEST_CASE("a custom root namespace makes its selector-less policy mesh-wide", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.mesh.root_namespace = "mesh-root";
  in.peer_authentications.push_back(
      policy({.ns = "mesh-root", .name = "default", .mode = Mode::Strict}));
  in.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Disable}));
  EffectivePolicy e = resolveHttpbin(std::move(in));
  CHECK(e.mode == Mode::Strict);
  CHECK(e.decided_by.scope == Scope::Mesh);
  CHECK(e.decided_by.policy.namespace_name == "mesh-root");
}

TEST_CASE("policies of another namespace never apply", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(policy({.ns = "bar", .name = "default", .mode = Mode::Strict}));
  in.peer_authentications.push_back(
      policy({.ns = "bar", .name = "httpbin", .mode = Mode::Disable, .selector = kHttpbin}));
  CHECK(resolveHttpbin(std::move(in)).decided_by.scope == Scope::MeshDefault);
}

TEST_CASE("a selector needs every label to match", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(
      policy({.ns = "foo",
              .name = "v2",
              .mode = Mode::Strict,
              .selector = Labels{{"app", "httpbin"}, {"version", "v2"}}}));
  CHECK(resolveHttpbin(std::move(in)).mode == Mode::Permissive);
}

TEST_CASE("namespace mode combines mesh and namespace policies only", "[resolve]") {
  Inputs in = fooWithHttpbin();
  in.peer_authentications.push_back(
      policy({.ns = "istio-system", .name = "default", .mode = Mode::Strict}));
  in.peer_authentications.push_back(
      policy({.ns = "bar", .name = "default", .mode = Mode::Permissive}));
  in.peer_authentications.push_back(
      policy({.ns = "foo", .name = "httpbin", .mode = Mode::Disable, .selector = kHttpbin}));
  ClusterState state(std::move(in));
  CHECK(resolveNamespaceMode(state, "foo") == Mode::Strict);
  CHECK(resolveNamespaceMode(state, "bar") == Mode::Permissive);
  CHECK(resolveNamespaceMode(state, "istio-system") == Mode::Strict);
}
