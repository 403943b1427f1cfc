// `peergate iptables`: the init step of an injected pod. Installs (or removes) the nat rules of
// iptables_rules.h in the current network namespace through iptables-restore and
// ip6tables-restore, each family atomically.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/iptables_rules.h"
#include "peergate/cli/ipv6_enabled.h"

extern char** environ;

namespace peergate::cli {
namespace {

constexpr const char* kIptablesHelp =
    "Runs inside the pod's network namespace (the peergate-init container, with NET_ADMIN and\n"
    "NET_RAW). Inbound TCP is redirected to --inbound-port except --exclude-inbound-ports;\n"
    "outbound TCP to --outbound-port except to loopback, --exclude-outbound-cidrs and\n"
    "--exclude-outbound-ports; traffic of --proxy-uid (and --proxy-gid) is never redirected.\n"
    "IPv4 and IPv6 get the same rules (iptables-restore, ip6tables-restore); --ipv6 auto\n"
    "intercepts IPv6 when the network namespace has it, and fails rather than let IPv6 bypass\n"
    "the proxy when ip6tables-restore is missing.\n"
    "The rules live in the nat chains PEERGATE_INBOUND, PEERGATE_IN_REDIRECT, PEERGATE_OUTPUT\n"
    "and PEERGATE_REDIRECT of both families; running again replaces them, --cleanup removes\n"
    "them.\n"
    "Exit codes: 0 done, 64 usage error, 65 an invalid list, 1 iptables failed or is missing\n"
    "(its message is printed).";

struct IptablesOptions {
  int proxy_uid = 1337;
  int proxy_gid = -1;
  int inbound_port = 15006;
  int outbound_port = 15001;
  std::string exclude_inbound_ports;
  std::string include_inbound_ports = "*";
  std::string exclude_outbound_ports;
  std::string exclude_outbound_cidrs;
  std::string ipv6 = "auto";
  bool dry_run = false;
  bool cleanup = false;
};

// An executable `name` in a directory of PATH (posix_spawnp's default when PATH is unset).
bool onPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/bin:/usr/bin";
  while (true) {
    const std::size_t colon = std::min(dirs.find(':'), dirs.size());
    const std::string_view dir = dirs.substr(0, colon);
    const std::string file =
        (dir.empty() ? std::string(".") : std::string(dir)) + "/" + std::string(name);
    if (access(file.c_str(), X_OK) == 0) return true;
    if (colon == dirs.size()) return false;
    dirs.remove_prefix(colon + 1);
  }
}

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

// Removes every trace of an earlier run of one family; absent rules and chains are not errors,
// nor is a missing tool (a host without ip6tables has no IPv6 rules of ours).
void removeRules(IpFamily family, std::ostream& err) {
  constexpr int kMaxDuplicateJumps = 16;
  if (!onPath(ruleTool(family))) return;
  for (std::vector<std::string> argv : cleanupCommands(family)) {
    argv.insert(argv.begin() + 1, {"-w", "5"});
    const bool is_delete = argv.size() > 5 && argv[5] == "-D";
    // A jump added twice by hand needs two deletes; stop at the first failure.
    for (int i = 0; i < (is_delete ? kMaxDuplicateJumps : 1); ++i) {
      if (runTool(argv, "", err, /*quiet=*/true) != 0) break;
    }
  }
}

// Feeds one family's rules to its restore tool; false (with the tool's exit and the rules
// printed) when it fails.
bool installRules(IpFamily family, const std::string& script, std::ostream& err) {
  const std::string tool(restoreTool(family));
  const int status = runTool({tool, "-w", "5", "--noflush"}, script, err);
  if (status == 0) return true;
  err << "peergate iptables: " << tool << " failed (exit " << status
      << "); the rules it was given:\n"
      << script;
  return false;
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

void printCleanup(std::ostream& out) {
  for (const IpFamily family : {IpFamily::V4, IpFamily::V6}) {
    for (const auto& command : cleanupCommands(family)) {
      for (std::size_t i = 0; i < command.size(); ++i) out << (i > 0 ? " " : "") << command[i];
      out << "\n";
    }
  }
}

void printScripts(const InterceptionOptions& options, Ipv6Mode ipv6, std::ostream& out) {
  out << "# IPv4: iptables-restore --noflush\n" << restoreScript(options, IpFamily::V4);
  if (ipv6 == Ipv6Mode::Off) return;
  out << "# IPv6: ip6tables-restore --noflush"
      << (ipv6 == Ipv6Mode::Auto ? " (--ipv6 auto: when the network namespace has IPv6)" : "")
      << "\n"
      << restoreScript(options, IpFamily::V6);
}

int runIptables(const IptablesOptions& flags, Streams& streams) {
  if (flags.cleanup) {
    if (flags.dry_run) {
      printCleanup(streams.out);
      return kExitOk;
    }
    removeRules(IpFamily::V4, streams.err);
    removeRules(IpFamily::V6, streams.err);
    streams.err << "peergate iptables: interception removed\n";
    return kExitOk;
  }
  const std::optional<InterceptionOptions> options = interception(flags, streams.err);
  if (!options) return kExitBadInput;
  const validation::Result<Ipv6Mode> ipv6_mode = parseIpv6Mode(flags.ipv6);
  if (!ipv6_mode) {
    streams.err << "peergate iptables: " << ipv6_mode.error().message << "\n";
    return kExitUsage;
  }
  if (flags.dry_run) {
    printScripts(*options, ipv6_mode.value(), streams.out);
    return kExitOk;
  }
  // Decided before anything changes: a refusal leaves the namespace as it was.
  const validation::Result<bool> ipv6 =
      decideIpv6(ipv6_mode.value(), ipv6Enabled(), onPath(restoreTool(IpFamily::V6)));
  if (!ipv6) {
    streams.err << "peergate iptables: " << ipv6.error().message << "\n";
    return kExitInternal;
  }
  removeRules(IpFamily::V4, streams.err);
  removeRules(IpFamily::V6, streams.err);
  if (!installRules(IpFamily::V4, restoreScript(*options, IpFamily::V4), streams.err)) {
    return kExitInternal;
  }
  if (ipv6.value() &&
      !installRules(IpFamily::V6, restoreScript(*options, IpFamily::V6), streams.err)) {
    streams.err << "peergate iptables: IPv4 is intercepted but IPv6 is not; the pod must not "
                   "start like this\n";
    return kExitInternal;
  }
  streams.err << "peergate iptables: inbound TCP -> " << options->inbound_port
              << ", outbound TCP -> " << options->outbound_port << ", uid " << options->proxy_uid
              << " exempt; "
              << (ipv6.value()                         ? "IPv4 and IPv6"
                  : ipv6_mode.value() == Ipv6Mode::Off ? "IPv4 only (--ipv6 off)"
                                                       : "IPv4 only (no IPv6 here)")
              << "\n";
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
                  "Outbound destinations (IPv4 and IPv6 CIDRs) that bypass the proxy")
      ->type_name("LIST");
  app->add_option("--ipv6", options->ipv6,
                  "Intercept IPv6 too: auto (when the network namespace has IPv6), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app->add_flag("--dry-run", options->dry_run,
                "Print the rules (iptables-restore format, one script per family)");
  app->add_flag("--cleanup", options->cleanup,
                "Remove peergate's rules and chains (both families)");
  app->footer(kIptablesHelp);
  return {app, [options](Streams& streams) { return runIptables(*options, streams); }};
}

}  // namespace peergate::cli
