#include "peergate/cli/command_options.h"

#include <algorithm>

#include <CLI/CLI.hpp>

namespace peergate::cli {

validation::Severity GateOptions::threshold() const {
  const validation::Severity chosen =
      validation::parseSeverity(failure_threshold).value_or(validation::Severity::Error);
  return fail_on_warning ? std::min(chosen, validation::Severity::Warning) : chosen;
}

void addFilenameOption(CLI::App& app, std::vector<std::string>& files) {
  app.add_option("-f,--filename", files,
                 "Manifest FILE, DIR (read recursively for *.yaml, *.yml, *.json) or - for "
                 "stdin; repeatable")
      ->required()
      ->expected(1)
      ->allow_extra_args(false)
      ->take_all()
      ->type_name("FILE|DIR|-");
}

void addOutputOption(CLI::App& app, std::string& output, const std::vector<std::string>& formats) {
  output = formats.front();
  app.add_option("-o,--output", output, "Output format")
      ->check(CLI::IsMember(formats))
      ->capture_default_str();
}

void addGateOptions(CLI::App& app, GateOptions& options) {
  app.add_option("--observations", options.observations_file,
                 "Traffic observations file (docs/observations.md): STRICT where plaintext "
                 "clients were seen becomes an error")
      ->type_name("FILE");
  app.add_option("--failure-threshold", options.failure_threshold,
                 "Exit 79 when a finding is at or above this severity")
      ->check(CLI::IsMember({"Info", "Warning", "Error"}, CLI::ignore_case))
      ->capture_default_str();
  app.add_flag("--fail-on-warning", options.fail_on_warning, "Same as --failure-threshold Warning");
}

OutputFormat outputFormat(const std::string& output) {
  return parseOutputFormat(output).value_or(OutputFormat::Text);
}

}  // namespace peergate::cli
