#include "peergate/cli/run.h"

#include <array>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/exit_codes.h"

namespace peergate::cli {
namespace {

// Every subcommand, in `--help` order. Adding one (webhook, proxy, iptables, inject, certs) is
// one line here.
constexpr std::array<CommandRegistrar, 8> kCommands = {
    &addCheckCommand, &addDescribeCommand, &addPlanCommand,  &addInjectCommand,
    &addCertsCommand, &addIptablesCommand, &addProxyCommand, &addWebhookCommand,
};

constexpr const char* kFooter =
    "Exit codes of check, describe and plan: 0 clean, 64 usage error, 65 unreadable or "
    "undecodable input, 79 findings at or above the failure threshold. `peergate COMMAND "
    "--help` describes each command.";

void configureRoot(CLI::App& root) {
  root.set_version_flag("--version", std::string("peergate ") + PEERGATE_VERSION);
  root.require_subcommand(1);
}

// CLI11 reports --help and --version as "errors" with exit code 0; every real parse error is
// a usage error.
int parseFailure(const CLI::App& root, const CLI::ParseError& error, Streams& streams) {
  const int code = root.exit(error, streams.out, streams.err);
  return code == 0 ? kExitOk : kExitUsage;
}

int dispatch(const std::vector<Command>& commands, Streams& streams) {
  for (const Command& command : commands) {
    if (command.app->parsed()) return command.action(streams);
  }
  return kExitUsage;  // unreachable: require_subcommand(1)
}

int parseAndDispatch(const std::vector<std::string>& args, Streams& streams) {
  CLI::App root("peergate: check, explain and gate Istio PeerAuthentication policies", "peergate");
  configureRoot(root);
  std::vector<Command> commands;
  for (const CommandRegistrar registrar : kCommands) commands.push_back(registrar(root));
  // Set after the subcommands exist: CLI11 copies a parent's footer into subcommands added later.
  root.footer(kFooter);

  std::vector<const char*> argv = {"peergate"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  try {
    root.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    return parseFailure(root, error, streams);
  }
  return dispatch(commands, streams);
}

}  // namespace

int run(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
        std::ostream& err) {
  Streams streams{in, out, err};
  try {
    return parseAndDispatch(args, streams);
  } catch (const std::exception& error) {
    err << "peergate: internal error: " << error.what() << "\n";
    return kExitInternal;
  }
}

CapturedRun runCaptured(const std::vector<std::string>& args, std::string_view stdin_text) {
  std::istringstream in{std::string(stdin_text)};
  std::ostringstream out;
  std::ostringstream err;
  CapturedRun captured;
  captured.exit_code = run(args, in, out, err);
  captured.out = std::move(out).str();
  captured.err = std::move(err).str();
  return captured;
}

int run(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return run(args, std::cin, std::cout, std::cerr);
}

}  // namespace peergate::cli
