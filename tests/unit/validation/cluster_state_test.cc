#include "peergate/validation/cluster_state.h"

#include <catch2/catch.hpp>

#include "fixtures.h"

namespace peergate::validation {
namespace {

std::vector<std::string> names(const std::vector<const DestinationRule*>& rules) {
  std::vector<std::string> out;
  for (const DestinationRule* rule : rules) out.push_back(rule->meta.name);
  return out;
}

TEST_CASE("destination rules are found by the namespaces their host or home may name",
          "[cluster_state]") {
  Inputs in;
  in.destination_rules = {
      testing::destinationRule("foo", "local-short", "httpbin", "ISTIO_MUTUAL"),
      testing::destinationRule("bar", "to-foo-fqdn", "httpbin.foo.svc.cluster.local", "DISABLE"),
      testing::destinationRule("istio-system", "all-local", "*.local", "ISTIO_MUTUAL"),
      testing::destinationRule("bar", "to-baz", "web.baz", "DISABLE"),
      testing::destinationRule("bar", "in-bar", "web", "DISABLE"),
  };
  const ClusterState state(std::move(in));
  CHECK(names(state.destinationRulesReaching({"foo"})) ==
        std::vector<std::string>{"local-short", "to-foo-fqdn", "all-local"});
  CHECK(names(state.destinationRulesReaching({"bar"})) ==
        std::vector<std::string>{"to-foo-fqdn", "all-local", "to-baz", "in-bar"});
  CHECK(names(state.destinationRulesReaching({"baz", "foo"})) ==
        std::vector<std::string>{"local-short", "to-foo-fqdn", "all-local", "to-baz"});
  CHECK(names(state.destinationRulesReaching({"elsewhere"})) ==
        std::vector<std::string>{"all-local"});
}

}  // namespace
}  // namespace peergate::validation
