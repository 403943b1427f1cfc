#include "peergate/cli/change_set.h"

#include <catch2/catch.hpp>

namespace peergate::cli {
namespace {

using validation::ObjectRef;

validation::PeerAuthentication policy(const std::string& ns, const std::string& name,
                                      const std::string& mode, const std::string& created) {
  validation::PeerAuthentication pa;
  pa.meta.namespace_name = ns;
  pa.meta.name = name;
  pa.meta.creation_timestamp = created;
  pa.mtls.text = mode;
  return pa;
}

TEST_CASE("parses delete targets as KIND/NAMESPACE/NAME", "[cli][plan]") {
  using Row = std::tuple<std::string, std::optional<ObjectRef>>;
  const auto [text, expected] = GENERATE(table<std::string, std::optional<ObjectRef>>({
      Row{"PeerAuthentication/foo/default", ObjectRef{"PeerAuthentication", "foo", "default"}},
      Row{"pa/foo/default", ObjectRef{"PeerAuthentication", "foo", "default"}},
      Row{"peerauthentications/foo/default", ObjectRef{"PeerAuthentication", "foo", "default"}},
      Row{"deploy/foo/httpbin", ObjectRef{"Deployment", "foo", "httpbin"}},
      Row{"DestinationRule/shop/orders", ObjectRef{"DestinationRule", "shop", "orders"}},
      Row{"Namespace/legacy", ObjectRef{"Namespace", "", "legacy"}},
      Row{"ns//legacy", ObjectRef{"Namespace", "", "legacy"}},
      Row{"PeerAuthentication/default", std::nullopt},
      Row{"PeerAuthentication/foo/", std::nullopt},
      Row{"Widget/foo/default", std::nullopt},
      Row{"Namespace/a/b", std::nullopt},
      Row{"", std::nullopt},
  }));
  CAPTURE(text);
  CHECK(parseObjectRef(text) == expected);
}

TEST_CASE("upsert replaces the same object and keeps its creationTimestamp", "[cli][plan]") {
  validation::Inputs inputs;
  inputs.peer_authentications.push_back(
      policy("foo", "default", "PERMISSIVE", "2026-01-01T00:00:00Z"));
  validation::Inputs change;
  change.peer_authentications.push_back(policy("foo", "default", "STRICT", ""));
  change.peer_authentications.push_back(policy("bar", "default", "STRICT", ""));
  upsertAll(inputs, change);
  REQUIRE(inputs.peer_authentications.size() == 2);
  CHECK(inputs.peer_authentications[0].mtls.text == "STRICT");
  CHECK(inputs.peer_authentications[0].meta.creation_timestamp == "2026-01-01T00:00:00Z");
  CHECK(inputs.peer_authentications[1].meta.namespace_name == "bar");
}

TEST_CASE("upsert keeps an explicit creationTimestamp of the change", "[cli][plan]") {
  validation::Inputs inputs;
  inputs.peer_authentications.push_back(
      policy("foo", "default", "PERMISSIVE", "2026-01-01T00:00:00Z"));
  validation::Inputs change;
  change.peer_authentications.push_back(policy("foo", "default", "STRICT", "2026-02-01T00:00:00Z"));
  upsertAll(inputs, change);
  CHECK(inputs.peer_authentications[0].meta.creation_timestamp == "2026-02-01T00:00:00Z");
}

TEST_CASE("a mesh config in the change replaces the current one", "[cli][plan]") {
  validation::Inputs inputs;
  validation::Inputs change;
  change.mesh.root_namespace = "mesh-root";
  change.mesh.from_input = true;
  upsertAll(inputs, change);
  CHECK(inputs.mesh.root_namespace == "mesh-root");
}

validation::Namespace namespaceNamed(const std::string& name) {
  validation::Namespace ns;
  ns.meta.name = name;
  return ns;
}

TEST_CASE("removes exactly the named object", "[cli][plan]") {
  validation::Inputs inputs;
  inputs.peer_authentications.push_back(policy("foo", "default", "STRICT", ""));
  inputs.peer_authentications.push_back(policy("foo", "httpbin", "STRICT", ""));
  inputs.namespaces.push_back(namespaceNamed("foo"));
  CHECK_FALSE(removeObject(inputs, ObjectRef{"PeerAuthentication", "bar", "default"}));
  CHECK(removeObject(inputs, ObjectRef{"PeerAuthentication", "foo", "default"}));
  CHECK(objectRefs(inputs) ==
        std::vector<ObjectRef>{ObjectRef{"PeerAuthentication", "foo", "httpbin"},
                               ObjectRef{"Namespace", "", "foo"}});
}

TEST_CASE("removing a namespace removes everything in it", "[cli][plan]") {
  validation::Inputs inputs;
  inputs.namespaces.push_back(namespaceNamed("foo"));
  inputs.namespaces.push_back(namespaceNamed("bar"));
  inputs.peer_authentications.push_back(policy("foo", "default", "STRICT", ""));
  inputs.peer_authentications.push_back(policy("bar", "default", "STRICT", ""));
  validation::Workload workload;
  workload.kind = "Deployment";
  workload.meta.namespace_name = "foo";
  workload.meta.name = "httpbin";
  inputs.workloads.push_back(workload);
  CHECK(removeObject(inputs, ObjectRef{"Namespace", "", "foo"}));
  CHECK(objectRefs(inputs) ==
        std::vector<ObjectRef>{ObjectRef{"PeerAuthentication", "bar", "default"},
                               ObjectRef{"Namespace", "", "bar"}});
  CHECK_FALSE(removeObject(inputs, ObjectRef{"Namespace", "", "foo"}));
}

}  // namespace
}  // namespace peergate::cli
