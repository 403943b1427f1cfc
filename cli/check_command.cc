// `peergate check`: decode every input into one cluster, analyze it, report like
// `istioctl analyze`, and exit 79 when a finding reaches the failure threshold.
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/command_options.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/finding_output.h"
#include "peergate/cli/input_files.h"
#include "peergate/validation/analyze.h"
#include "peergate/validation/cluster_state.h"

namespace peergate::cli {
namespace {

struct CheckOptions {
  std::vector<std::string> files;
  std::string output;
  GateOptions gate;
};

// Loads the observations file when one is given; errors are appended for the caller.
std::optional<validation::Observations> observationsFor(const std::string& path,
                                                        std::vector<validation::Error>& errors) {
  if (path.empty()) return std::nullopt;
  validation::Result<validation::Observations> loaded = loadObservations(path);
  if (!loaded) {
    errors.push_back(loaded.error());
    return std::nullopt;
  }
  return std::move(loaded).value();
}

int runCheck(const CheckOptions& options, Streams& streams) {
  LoadedInputs loaded = loadInputs(options.files, streams.in);
  const std::optional<validation::Observations> observations =
      observationsFor(options.gate.observations_file, loaded.errors);
  reportInputWarnings(loaded.warnings, streams.err);
  if (!loaded.ok()) return reportInputErrors(loaded.errors, streams.err);

  const CheckSummary summary{loaded.objects, loaded.inputs.skipped_kinds};
  const validation::ClusterState state(std::move(loaded.inputs));
  const validation::Analysis analysis =
      validation::analyze(state, observations ? &*observations : nullptr);
  writeCheckReport(outputFormat(options.output), analysis.findings, summary, streams.out,
                   streams.err);
  return anyAtOrAbove(analysis.findings, options.gate.threshold()) ? kExitFindings : kExitOk;
}

}  // namespace

Command addCheckCommand(CLI::App& root) {
  auto options = std::make_shared<CheckOptions>();
  CLI::App* app = root.add_subcommand(
      "check", "Analyze manifests for PeerAuthentication conflicts and unsafe mTLS settings");
  addFilenameOption(*app, options->files);
  addOutputOption(*app, options->output, {"text", "json", "yaml"});
  addGateOptions(*app, options->gate);
  app->footer(
      "Exit codes: 0 clean, 64 usage error, 65 unreadable or undecodable input, 79 findings at or "
      "above the failure threshold.");
  return {app, [options](Streams& streams) { return runCheck(*options, streams); }};
}

}  // namespace peergate::cli
