// `peergate iptables`: the init step of an injected pod. Installs (or removes) the nat rules of
// iptables_rules.h in the current network namespace through iptables-restore, atomically.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/iptables_rules.h"

extern char** environ;

namespace peergate::cli {
namespace {

constexpr const char* kIptablesHelp =
    "Runs inside the pod's network namespace (the peergate-init container, with NET_ADMIN and\n"
    "NET_RAW). Inbound TCP is redirected to --inbound-port except --exclude-inbound-ports;\n"
    "outbound TCP to --outbound-port except to 127.0.0.1, --exclude-outbound-cidrs and\n"
    "--exclude-outbound-ports; traffic of --proxy-uid (and --proxy-gid) is never redirected.\n"
    "The rules live in the nat chains PEERGATE_INBOUND, PEERGATE_IN_REDIRECT, PEERGATE_OUTPUT\n"
    "and PEERGATE_REDIRECT; running again replaces them, --cleanup removes them.\n"
    "Exit codes: 0 done, 64 usage error, 65 an invalid list, 1 iptables failed (its message is\n"
    "printed).";

struct IptablesOptions {
  int proxy_uid = 1337;
  int proxy_gid = -1;
  int inbound_port = 15006;
  int outbound_port = 15001;
  std::string exclude_inbound_ports;
  std::string include_inbound_ports = "*";
  std::string exclude_outbound_ports;
  std::string exclude_outbound_cidrs;
  bool dry_run = false;
  bool cleanup = false;
};

// Runs argv[0] from PATH with `input` on stdin; the exit status, or -1 when it cannot start.
// `quiet` drops the tool's stderr (cleanup expects "no such rule" failures).
int runTool(const std::vector<std::string>& argv, const std::string& input, std::ostream& err,
            bool quiet = false) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], STDIN_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
  if (quiet) posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[0]);
  if (spawned != 0) {
    close(pipe_fds[1]);
    err << "peergate iptables: cannot run " << argv[0] << ": " << std::strerror(spawned) << "\n";
    return -1;
  }
  std::size_t written = 0;
  while (written < input.size()) {
    const ssize_t n = write(pipe_fds[1], input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  close(pipe_fds[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Removes every trace of an earlier run; absent rules and chains are not errors.
void removeRules(std::ostream& err) {
  constexpr int kMaxDuplicateJumps = 16;
  for (const std::vector<std::string>& command : cleanupCommands()) {
    std::vector<std::string> argv = {"iptables", "-w", "5"};
    argv.insert(argv.end(), command.begin(), command.end());
    const bool is_delete = command.size() > 2 && command[2] == "-D";
    // A jump added twice by hand needs two deletes; stop at the first failure.
    for (int i = 0; i < (is_delete ? kMaxDuplicateJumps : 1); ++i) {
      if (runTool(argv, "", err, /*quiet=*/true) != 0) break;
    }
  }
}

std::optional<InterceptionOptions> interception(const IptablesOptions& flags, std::ostream& err) {
  InterceptionOptions options;
  options.proxy_uid = flags.proxy_uid;
  if (flags.proxy_gid >= 0) options.proxy_gid = flags.proxy_gid;
  options.inbound_port = flags.inbound_port;
  options.outbound_port = flags.outbound_port;
  const auto inbound = parsePortList(flags.exclude_inbound_ports);
  const auto include = parseIncludePorts(flags.include_inbound_ports);
  const auto outbound = parsePortList(flags.exclude_outbound_ports);
  const auto cidrs = parseCidrList(flags.exclude_outbound_cidrs);
  const validation::Error* problem = !inbound    ? &inbound.error()
                                     : !include  ? &include.error()
                                     : !outbound ? &outbound.error()
                                     : !cidrs    ? &cidrs.error()
                                                 : nullptr;
  if (problem) {
    err << "peergate iptables: " << problem->message << "\n";
    return std::nullopt;
  }
  options.exclude_inbound_ports = inbound.value();
  options.include_inbound_ports = include.value();
  options.exclude_outbound_ports = outbound.value();
  options.exclude_outbound_cidrs = cidrs.value();
  if (const auto invalid = checkOptions(options)) {
    err << "peergate iptables: " << invalid->message << "\n";
    return std::nullopt;
  }
  return options;
}

int runIptables(const IptablesOptions& flags, Streams& streams) {
  if (flags.cleanup) {
    if (flags.dry_run) {
      for (const auto& command : cleanupCommands()) {
        streams.out << "iptables";
        for (const std::string& arg : command) streams.out << " " << arg;
        streams.out << "\n";
      }
      return kExitOk;
    }
    removeRules(streams.err);
    streams.err << "peergate iptables: interception removed\n";
    return kExitOk;
  }
  const std::optional<InterceptionOptions> options = interception(flags, streams.err);
  if (!options) return kExitBadInput;
  const std::string script = restoreScript(*options);
  if (flags.dry_run) {
    streams.out << script;
    return kExitOk;
  }
  removeRules(streams.err);
  const int status = runTool({"iptables-restore", "-w", "5", "--noflush"}, script, streams.err);
  if (status != 0) {
    streams.err << "peergate iptables: iptables-restore failed (exit " << status
                << "); the rules it was given:\n"
                << script;
    return kExitInternal;
  }
  streams.err << "peergate iptables: inbound TCP -> " << options->inbound_port
              << ", outbound TCP -> " << options->outbound_port << ", uid " << options->proxy_uid
              << " exempt\n";
  return kExitOk;
}

}  // namespace

Command addIptablesCommand(CLI::App& root) {
  auto options = std::make_shared<IptablesOptions>();
  CLI::App* app = root.add_subcommand(
      "iptables", "Redirect the pod's TCP traffic through the proxy (the injected init step)");
  app->add_option("--proxy-uid", options->proxy_uid, "The proxy's uid: its traffic is exempt")
      ->capture_default_str();
  app->add_option("--proxy-gid", options->proxy_gid, "Also exempt traffic of this gid")
      ->type_name("GID");
  app->add_option("--inbound-port", options->inbound_port, "The proxy's inbound port")
      ->capture_default_str();
  app->add_option("--outbound-port", options->outbound_port, "The proxy's outbound port")
      ->capture_default_str();
  app->add_option("--exclude-inbound-ports", options->exclude_inbound_ports,
                  "Inbound ports that reach the app directly, e.g. 15020,15021")
      ->type_name("LIST");
  app->add_option("--include-inbound-ports", options->include_inbound_ports,
                  "Inbound ports to redirect: * for all, or a list")
      ->type_name("*|LIST")
      ->capture_default_str();
  app->add_option("--exclude-outbound-ports", options->exclude_outbound_ports,
                  "Outbound destination ports that bypass the proxy")
      ->type_name("LIST");
  app->add_option("--exclude-outbound-cidrs", options->exclude_outbound_cidrs,
                  "Outbound destinations (IPv4 CIDRs) that bypass the proxy")
      ->type_name("LIST");
  app->add_flag("--dry-run", options->dry_run, "Print the rules (iptables-restore format)");
  app->add_flag("--cleanup", options->cleanup, "Remove peergate's rules and chains");
  app->footer(kIptablesHelp);
  return {app, [options](Streams& streams) { return runIptables(*options, streams); }};
}

}  // namespace peergate::cli
