// `peergate describe`: the effective mTLS mode of every workload and port, and which policy
// decided it.
#include <algorithm>
#include <memory>
#include <ostream>
#include <set>
#include <tuple>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/command_options.h"
#include "peergate/cli/describe_output.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/input_files.h"
#include "peergate/cli/json_to_yaml.h"
#include "peergate/cli/name_suggestions.h"
#include "peergate/validation/cluster_state.h"
#include "peergate/validation/resolve.h"

namespace peergate::cli {
namespace {

using validation::EffectivePolicy;

struct DescribeOptions {
  std::vector<std::string> files;
  std::string namespace_name;
  std::string workload;
  std::string output;
};

// WORKLOAD is a name ("httpbin") or kubectl's kind/name ("deployment/httpbin").
bool workloadMatches(const validation::ObjectRef& ref, const std::string& wanted) {
  if (wanted.find('/') == std::string::npos) return ref.name == wanted;
  std::string lowered = wanted;
  const std::size_t slash = lowered.find('/');
  std::transform(lowered.begin(), lowered.begin() + static_cast<std::ptrdiff_t>(slash),
                 lowered.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return workloadText(ref) == lowered;
}

std::vector<const EffectivePolicy*> inNamespace(const std::vector<EffectivePolicy>& all,
                                                const std::string& ns) {
  std::vector<const EffectivePolicy*> selected;
  for (const EffectivePolicy& policy : all) {
    if (ns.empty() || policy.workload->meta.namespace_name == ns) selected.push_back(&policy);
  }
  std::sort(selected.begin(), selected.end(), [](const auto* a, const auto* b) {
    const validation::ObjectRef ra = a->workload->ref();
    const validation::ObjectRef rb = b->workload->ref();
    return std::tie(ra.namespace_name, ra.name, ra.kind) <
           std::tie(rb.namespace_name, rb.name, rb.kind);
  });
  return selected;
}

std::vector<const EffectivePolicy*> named(const std::vector<const EffectivePolicy*>& policies,
                                          const std::string& wanted) {
  std::vector<const EffectivePolicy*> selected;
  for (const EffectivePolicy* policy : policies) {
    if (workloadMatches(policy->workload->ref(), wanted)) selected.push_back(policy);
  }
  return selected;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// "Error: workload "htpbin" not found in namespace foo; did you mean: httpbin?"
int reportUnknown(const std::string& what, const std::string& wanted, const std::string& where,
                  const std::vector<std::string>& known, std::ostream& err) {
  err << "Error: " << what << " \"" << wanted << "\" not found" << where;
  const std::vector<std::string> close = closeNames(wanted, known);
  if (!close.empty()) {
    err << "; did you mean: " << joined(close) << "?\n";
  } else if (!known.empty()) {
    err << "; known: " << joined(known) << "\n";
  } else {
    err << "; the input has none\n";
  }
  return kExitUsage;
}

int reportUnknownWorkload(const DescribeOptions& options,
                          const std::vector<const EffectivePolicy*>& candidates,
                          std::ostream& err) {
  std::set<std::string> names;
  for (const EffectivePolicy* policy : candidates) names.insert(policy->workload->meta.name);
  const std::string where =
      options.namespace_name.empty() ? "" : " in namespace " + options.namespace_name;
  return reportUnknown("workload", options.workload, where, {names.begin(), names.end()}, err);
}

bool knownNamespace(const validation::ClusterState& state, const std::string& ns) {
  const std::vector<std::string>& names = state.namespaceNames();
  return std::find(names.begin(), names.end(), ns) != names.end();
}

void writeDescribe(const DescribeOptions& options,
                   const std::vector<const EffectivePolicy*>& policies, Streams& streams) {
  if (options.output == "json") {
    streams.out << toJsonText(describeJson(policies));
  } else if (policies.empty()) {
    streams.err << "No workloads found.\n";
  } else {
    writeDescribeText(policies, streams.out);
  }
}

int describeState(const DescribeOptions& options, const validation::ClusterState& state,
                  Streams& streams) {
  const std::string& ns = options.namespace_name;
  if (!ns.empty() && !knownNamespace(state, ns)) {
    return reportUnknown("namespace", ns, "", state.namespaceNames(), streams.err);
  }
  const std::vector<EffectivePolicy> all = validation::resolveAll(state);
  std::vector<const EffectivePolicy*> selected = inNamespace(all, ns);
  if (!options.workload.empty()) {
    std::vector<const EffectivePolicy*> matching = named(selected, options.workload);
    if (matching.empty()) return reportUnknownWorkload(options, selected, streams.err);
    selected = std::move(matching);
  }
  writeDescribe(options, selected, streams);
  return kExitOk;
}

int runDescribe(const DescribeOptions& options, Streams& streams) {
  LoadedInputs loaded = loadInputs(options.files, streams.in);
  reportInputWarnings(loaded.warnings, streams.err);
  if (!loaded.ok()) return reportInputErrors(loaded.errors, streams.err);
  const validation::ClusterState state(std::move(loaded.inputs));
  return describeState(options, state, streams);
}

}  // namespace

Command addDescribeCommand(CLI::App& root) {
  auto options = std::make_shared<DescribeOptions>();
  CLI::App* app = root.add_subcommand(
      "describe", "Show the effective mTLS mode of each workload and port, and why");
  app->footer(
      "Exit codes: 0 done, 64 usage error (e.g. an unknown workload), 65 unreadable or undecodable "
      "input.");
  addFilenameOption(*app, options->files);
  app->add_option("-n,--namespace", options->namespace_name, "Only workloads in this namespace")
      ->type_name("NS");
  app->add_option("workload", options->workload,
                  "Only this workload: NAME or KIND/NAME (e.g. deployment/httpbin)")
      ->type_name("WORKLOAD");
  addOutputOption(*app, options->output, {"text", "json"});
  return {app, [options](Streams& streams) { return runDescribe(*options, streams); }};
}

}  // namespace peergate::cli
