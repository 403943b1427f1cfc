#pragma once

#include <functional>
#include <iosfwd>

namespace CLI {
class App;
}  // namespace CLI

namespace peergate::cli {

// The streams a command reads and writes; the binary passes std::cin/cout/cerr.
struct Streams {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// What a subcommand does once its options are parsed; returns the exit code.
using CommandAction = std::function<int(Streams&)>;

struct Command {
  CLI::App* app = nullptr;
  CommandAction action;
};

// Each subcommand adds itself to the root app and returns its action. Registering a new one
// is one line in run.cc's table.
using CommandRegistrar = Command (*)(CLI::App& root);

Command addCheckCommand(CLI::App& root);
Command addDescribeCommand(CLI::App& root);
Command addPlanCommand(CLI::App& root);
Command addInjectCommand(CLI::App& root);
Command addIptablesCommand(CLI::App& root);
Command addWebhookCommand(CLI::App& root);
Command addCertsCommand(CLI::App& root);
Command addProxyCommand(CLI::App& root);

}  // namespace peergate::cli
