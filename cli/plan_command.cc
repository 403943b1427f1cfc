// `peergate plan`: apply a change (objects to upsert, objects to delete) to the current inputs
// and show, per workload and port, what changes and which findings it introduces or clears.
#include <algorithm>
#include <memory>
#include <optional>
#include <ostream>

#include <CLI/CLI.hpp>

#include "peergate/cli/change_set.h"
#include "peergate/cli/command.h"
#include "peergate/cli/command_options.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/input_files.h"
#include "peergate/cli/json_to_yaml.h"
#include "peergate/cli/name_suggestions.h"
#include "peergate/cli/plan_output.h"
#include "peergate/validation/cluster_state.h"
#include "peergate/validation/plan.h"

namespace peergate::cli {
namespace {

struct PlanOptions {
  std::vector<std::string> files;
  std::vector<std::string> apply;
  std::vector<std::string> deletions;
  std::string output;
  GateOptions gate;
};

struct PlanInputs {
  validation::Inputs before;
  validation::Inputs after;
  std::optional<validation::Observations> observations;
};

std::string refText(const validation::ObjectRef& ref) {
  return ref.namespace_name.empty() ? ref.kind + "/" + ref.name
                                    : ref.kind + "/" + ref.namespace_name + "/" + ref.name;
}

int usageError(const std::string& message, std::ostream& err) {
  err << "Error: " << message << "\n";
  return kExitUsage;
}

int reportUnknownTarget(const std::string& target, const validation::ObjectRef& ref,
                        const validation::Inputs& inputs, std::ostream& err) {
  std::vector<std::string> same_kind;
  for (const validation::ObjectRef& known : objectRefs(inputs)) {
    if (known.kind == ref.kind) same_kind.push_back(refText(known));
  }
  std::string message = "--delete " + target + ": no " + refText(ref) + " in the input";
  const std::vector<std::string> close = closeNames(refText(ref), same_kind);
  if (!close.empty()) message += "; did you mean " + close.front() + "?";
  return usageError(message, err);
}

// Applies every --delete to `after`; returns an exit code on the first bad target.
std::optional<int> applyDeletions(const PlanOptions& options, validation::Inputs& after,
                                  std::ostream& err) {
  for (const std::string& target : options.deletions) {
    const std::optional<validation::ObjectRef> ref = parseObjectRef(target);
    if (!ref) {
      return usageError("--delete " + target +
                            ": expected KIND/NAMESPACE/NAME (or Namespace/NAME), e.g. "
                            "PeerAuthentication/foo/default",
                        err);
    }
    if (!removeObject(after, *ref)) return reportUnknownTarget(target, *ref, after, err);
  }
  return std::nullopt;
}

std::optional<int> checkUsage(const PlanOptions& options, std::ostream& err) {
  if (options.apply.empty() && options.deletions.empty()) {
    return usageError("nothing to plan: give --apply CHANGE.yaml and/or --delete KIND/NS/NAME",
                      err);
  }
  const auto stdin_uses = std::count(options.files.begin(), options.files.end(), "-") +
                          std::count(options.apply.begin(), options.apply.end(), "-");
  if (stdin_uses > 1) return usageError("standard input (-) can be read only once", err);
  return std::nullopt;
}

// Loads current inputs, change objects and observations; nullopt after reporting errors.
std::optional<PlanInputs> loadPlanInputs(const PlanOptions& options, Streams& streams) {
  LoadedInputs current = loadInputs(options.files, streams.in);
  LoadedInputs change = loadInputs(options.apply, streams.in);
  std::vector<validation::Error> errors = std::move(current.errors);
  errors.insert(errors.end(), change.errors.begin(), change.errors.end());
  reportInputWarnings(current.warnings, streams.err);
  reportInputWarnings(change.warnings, streams.err);
  PlanInputs inputs;
  if (!options.gate.observations_file.empty()) {
    auto observations = loadObservations(options.gate.observations_file);
    if (observations) inputs.observations = std::move(observations).value();
    if (!observations) errors.push_back(observations.error());
  }
  if (!errors.empty()) {
    reportInputErrors(errors, streams.err);
    return std::nullopt;
  }
  inputs.before = current.inputs;
  inputs.after = std::move(current.inputs);
  upsertAll(inputs.after, std::move(change.inputs));
  return inputs;
}

int writePlan(const PlanOptions& options, PlanInputs inputs, Streams& streams) {
  const validation::ClusterState before(std::move(inputs.before));
  const validation::ClusterState after(std::move(inputs.after));
  const validation::Plan plan =
      validation::plan(before, after, inputs.observations ? &*inputs.observations : nullptr);
  const validation::Severity threshold = options.gate.threshold();
  if (options.output == "json") {
    streams.out << toJsonText(planJson(plan, threshold));
  } else {
    writePlanText(plan, threshold, streams.out);
  }
  return plan.refuses(threshold) ? kExitFindings : kExitOk;
}

int runPlan(const PlanOptions& options, Streams& streams) {
  if (const std::optional<int> usage = checkUsage(options, streams.err)) return *usage;
  std::optional<PlanInputs> inputs = loadPlanInputs(options, streams);
  if (!inputs) return kExitBadInput;
  if (const auto failed = applyDeletions(options, inputs->after, streams.err)) return *failed;
  return writePlan(options, std::move(*inputs), streams);
}

}  // namespace

Command addPlanCommand(CLI::App& root) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* app = root.add_subcommand(
      "plan", "Show what a change does to every workload's effective mode, and its findings");
  app->footer(
      "Exit codes: 0 the change would be admitted, 64 usage error, 65 unreadable or undecodable "
      "input, 79 the change introduces findings at or above the failure threshold.");
  addFilenameOption(*app, options->files);
  app->add_option("--apply", options->apply,
                  "Objects to create or update (same kind/namespace/name replaces); FILE|DIR|-, "
                  "repeatable")
      ->expected(1)
      ->allow_extra_args(false)
      ->take_all()
      ->type_name("CHANGE");
  app->add_option("--delete", options->deletions,
                  "Object to delete, as KIND/NAMESPACE/NAME (Namespace/NAME); repeatable")
      ->expected(1)
      ->allow_extra_args(false)
      ->take_all()
      ->type_name("KIND/NS/NAME");
  addOutputOption(*app, options->output, {"text", "json"});
  addGateOptions(*app, options->gate);
  return {app, [options](Streams& streams) { return runPlan(*options, streams); }};
}

}  // namespace peergate::cli
