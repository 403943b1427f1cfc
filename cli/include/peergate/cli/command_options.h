#pragma once

#include <string>
#include <vector>

#include "peergate/cli/output_format.h"
#include "peergate/validation/finding.h"

namespace CLI {
class App;
}  // namespace CLI

namespace peergate::cli {

// Options shared by the commands that gate (check, plan).
struct GateOptions {
  std::string observations_file;
  std::string failure_threshold = "Error";
  bool fail_on_warning = false;

  // --fail-on-warning lowers the threshold to Warning (never raises it).
  validation::Severity threshold() const;
};

// -f/--filename FILE|DIR|-, repeatable, required.
void addFilenameOption(CLI::App& app, std::vector<std::string>& files);
// -o/--output restricted to `formats` (the first is the default).
void addOutputOption(CLI::App& app, std::string& output, const std::vector<std::string>& formats);
void addGateOptions(CLI::App& app, GateOptions& options);

OutputFormat outputFormat(const std::string& output);

}  // namespace peergate::cli
