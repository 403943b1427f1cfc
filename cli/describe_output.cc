#include "peergate/cli/describe_output.h"

#include <algorithm>
#include <cctype>
#include <ostream>

#include "peergate/cli/text_table.h"

namespace peergate::cli {
namespace {

using Json = nlohmann::ordered_json;
using validation::EffectivePolicy;

std::string refText(const validation::ObjectRef& ref) {
  return ref.namespace_name + "/" + ref.name;
}

std::string shadowedText(const EffectivePolicy& policy) {
  std::string text;
  for (const validation::ShadowedPolicy& shadowed : policy.shadowed) {
    text += (text.empty() ? "" : ",") + refText(shadowed.policy);
  }
  return text.empty() ? "-" : text;
}

Json shadowedJson(const EffectivePolicy& policy) {
  Json array = Json::array();
  for (const validation::ShadowedPolicy& shadowed : policy.shadowed) {
    array.push_back(Json{{"namespace", shadowed.policy.namespace_name},
                         {"name", shadowed.policy.name},
                         {"reason", shadowed.reason}});
  }
  return array;
}

Json portsJson(const EffectivePolicy& policy) {
  Json array = Json::array();
  for (const validation::PortPolicy& port : policy.ports) {
    array.push_back(Json{{"port", port.port},
                         {"mode", validation::toString(port.mode)},
                         {"decidedBy", decidedByToJson(port.decided_by)}});
  }
  return array;
}

Json workloadJson(const EffectivePolicy& policy) {
  const validation::ObjectRef ref = policy.workload->ref();
  return Json{{"namespace", ref.namespace_name},
              {"name", ref.name},
              {"kind", ref.kind},
              {"mode", validation::toString(policy.mode)},
              {"decidedBy", decidedByToJson(policy.decided_by)},
              {"shadowed", shadowedJson(policy)},
              {"sidecar", policy.sidecar},
              {"ambient", policy.ambient},
              {"ports", portsJson(policy)}};
}

void addRows(const EffectivePolicy& policy, TextTable& table) {
  const validation::ObjectRef ref = policy.workload->ref();
  const std::string workload = workloadText(ref);
  const std::string dataplane = dataplaneText(policy);
  const std::string shadowed = shadowedText(policy);
  table.addRow({ref.namespace_name, workload, dataplane, "*",
                std::string(validation::toString(policy.mode)), decidedByText(policy.decided_by),
                shadowed});
  for (const validation::PortPolicy& port : policy.ports) {
    table.addRow({ref.namespace_name, workload, dataplane, std::to_string(port.port),
                  std::string(validation::toString(port.mode)), decidedByText(port.decided_by),
                  shadowed});
  }
}

}  // namespace

Json decidedByToJson(const validation::DecidedBy& decided_by) {
  return Json{{"namespace", decided_by.policy.namespace_name},
              {"name", decided_by.policy.name},
              {"scope", validation::toString(decided_by.scope)}};
}

std::string decidedByText(const validation::DecidedBy& decided_by) {
  if (decided_by.scope == validation::Scope::MeshDefault) return "mesh-default";
  return std::string(validation::toString(decided_by.scope)) + " " + refText(decided_by.policy);
}

std::string dataplaneText(const EffectivePolicy& policy) {
  if (policy.sidecar) return "sidecar";
  if (policy.ambient) return "ambient";
  return "none";
}

std::string workloadText(const validation::ObjectRef& workload) {
  std::string kind = workload.kind;
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return kind + "/" + workload.name;
}

Json describeJson(const std::vector<const EffectivePolicy*>& policies) {
  Json workloads = Json::array();
  for (const EffectivePolicy* policy : policies) workloads.push_back(workloadJson(*policy));
  return Json{{"workloads", std::move(workloads)}};
}

void writeDescribeText(const std::vector<const EffectivePolicy*>& policies, std::ostream& out) {
  TextTable table({"NAMESPACE", "WORKLOAD", "DATAPLANE", "PORT", "MODE", "DECIDED-BY", "SHADOWED"});
  for (const EffectivePolicy* policy : policies) addRows(*policy, table);
  table.write(out);
}

}  // namespace peergate::cli
