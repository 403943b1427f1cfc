// `peergate proxy`: the pod's mTLS proxy in local mode (policy from --cluster-state, identity
// from --certs). SIGTERM/SIGINT: stop accepting, let open connections finish up to
// --drain-timeout, exit 0.
#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/shutdown_signals.h"
#include "peergate/proxy/admin_server.h"
#include "peergate/proxy/proxy_server.h"
#include "peergate/webhook/decision_log.h"

namespace peergate::cli {
namespace {

namespace px = peergate::proxy;

struct ProxyFlags {
  std::string pod;
  std::string inbound_map;
  std::string outbound_map;
  double sniff_timeout = 1.0;
  double handshake_timeout = 10.0;
  double idle_timeout = 3600.0;
  double drain_timeout = 20.0;
  double startup_timeout = 60.0;
  std::string log_format = "json";
  std::string log_level = "info";
  bool no_multiplex = false;
  px::ProxyOptions options;
};

constexpr const char* kDescription =
    "Run the mTLS proxy of one pod: per-port STRICT/PERMISSIVE/DISABLE on the inbound listener "
    "(original port from SO_ORIGINAL_DST, or --inbound-map), mTLS with secure naming on the "
    "outbound listener to pods that run a proxy, plaintext elsewhere. Control-plane mode "
    "(--control-plane, as injected): the policy from the webhook's feed (long-poll) and a "
    "certificate from its CA for a key made here, renewed at half-life. Local mode: the policy "
    "from --cluster-state (resolved with the same engine as `peergate check`), the identity "
    "from --certs DIR (cert.pem key.pem ca.pem), both reloaded when they change. Changes apply "
    "to new connections. Admin: /healthz/ready, /metrics, /identities.";

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

// Flag texts into options; a usage message on `err` and false when one is malformed.
// The injected container passes its pod through the downward API.
std::string podFromEnvironment() {
  const char* ns = std::getenv("POD_NAMESPACE");
  const char* name = std::getenv("POD_NAME");
  if (ns == nullptr || name == nullptr) return {};
  return std::string(ns) + "/" + name;
}

// Local mode needs both files; the control-plane mode neither.
bool checkMode(const px::ProxyOptions& options, std::ostream& err) {
  const bool local = !options.cluster_state.empty() || !options.certs_dir.empty();
  if (!options.control_plane.address.empty()) {
    if (!local) return true;
    err << "Error: --control-plane replaces --cluster-state and --certs; give one or the other\n";
    return false;
  }
  if (!options.cluster_state.empty() && !options.certs_dir.empty()) return true;
  err << "Error: give --control-plane HOST:PORT, or --cluster-state and --certs (local mode)\n";
  return false;
}

bool completeOptions(ProxyFlags& flags, std::ostream& err) {
  px::ProxyOptions& options = flags.options;
  if (flags.pod.empty()) flags.pod = podFromEnvironment();
  if (!checkMode(options, err)) return false;
  if (flags.pod.empty()) {
    err << "Error: --pod NAMESPACE/NAME is required (or POD_NAMESPACE and POD_NAME in the "
           "environment)\n";
    return false;
  }
  const std::size_t slash = flags.pod.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == flags.pod.size()) {
    err << "Error: --pod: expected NAMESPACE/NAME, got \"" << flags.pod << "\"\n";
    return false;
  }
  options.pod_namespace = flags.pod.substr(0, slash);
  options.pod_name = flags.pod.substr(slash + 1);
  std::string error;
  if (!flags.inbound_map.empty()) {
    auto parsed = px::parseInboundMap(flags.inbound_map, error);
    if (!parsed) {
      err << "Error: --inbound-map: " << error << "\n";
      return false;
    }
    options.inbound_map = std::move(*parsed);
  }
  if (!flags.outbound_map.empty()) {
    auto parsed = px::parseOutboundMap(flags.outbound_map, error);
    if (!parsed) {
      err << "Error: --outbound-map: " << error << "\n";
      return false;
    }
    options.outbound_map = std::move(*parsed);
  }
  options.multiplex = !flags.no_multiplex;
  options.limits.sniff_timeout = millis(flags.sniff_timeout);
  options.limits.handshake_timeout = millis(flags.handshake_timeout);
  options.limits.idle_timeout = millis(flags.idle_timeout);
  options.limits.drain_timeout = millis(flags.drain_timeout);
  options.control_plane.startup_timeout = millis(flags.startup_timeout);
  return true;
}

int runProxy(ProxyFlags& flags, Streams& streams) {
  if (!completeOptions(flags, streams.err)) return kExitUsage;
  webhook::configureLogging(
      webhook::parseLogFormat(flags.log_format).value_or(webhook::LogFormat::Json),
      spdlog::level::from_str(flags.log_level));
  const sigset_t signals = blockShutdownSignals();
  // A peer that closes first must cost a write error, not the process (the control-plane
  // client writes with plain SSL_write).
  std::signal(SIGPIPE, SIG_IGN);
  px::ProxyStats stats;
  px::ProxyServer proxy(flags.options, stats);
  std::string error;
  if (!proxy.start(error)) {
    spdlog::error("cannot start the proxy: {}", error);
    return kExitBadInput;
  }
  px::AdminServer admin(proxy, stats);
  if (flags.options.admin_port >= 0 &&
      !admin.start(proxy.bindAddress(), flags.options.admin_port, error)) {
    spdlog::error("cannot start the admin server: {}", error);
    proxy.stop();
    return kExitInternal;
  }
  const int signal_number = waitForShutdownSignal(signals);
  spdlog::info("{}: draining {} open connections (up to {} s)",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM", stats.active(), flags.drain_timeout);
  if (!proxy.drain(flags.options.limits.drain_timeout)) {
    spdlog::warn("drain timed out; closing {} connections", stats.active());
  }
  proxy.stop();
  admin.stop();
  spdlog::info("proxy stopped");
  spdlog::default_logger()->flush();
  return kExitOk;
}

void addPortOptions(CLI::App& app, px::ProxyOptions& options) {
  app.add_option("--inbound-port", options.inbound_port,
                 "Inbound listener (iptables REDIRECT target; 0: any free port, -1: none)")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  app.add_option("--outbound-port", options.outbound_port,
                 "Outbound listener (0: any free port, -1: none)")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  app.add_option("--admin-port", options.admin_port,
                 "Plaintext /healthz/ready, /metrics, /identities (0: any free port, -1: none)")
      ->envname("PEERGATE_ADMIN_PORT")
      ->check(CLI::Range(-1, 65535))
      ->capture_default_str();
  app.add_option("--bind-address", options.bind_address,
                 "Address every listener binds; :: is dual-stack (0.0.0.0 on a host without IPv6)")
      ->capture_default_str();
  app.add_option("--app-address", options.app_address,
                 "Where inbound traffic goes after the proxy (the app's port on this address; "
                 "IPv6 connections refused at 127.0.0.1 try ::1)")
      ->capture_default_str();
}

void addTimeoutOptions(CLI::App& app, ProxyFlags& flags) {
  app.add_option("--sniff-timeout", flags.sniff_timeout,
                 "PERMISSIVE: seconds to wait for a client's first bytes before treating it as "
                 "plaintext (server-speaks-first protocols), and for a whole ClientHello before "
                 "treating it as TLS without a mesh ALPN (passed through)")
      ->check(CLI::Range(0.001, 60.0))
      ->capture_default_str();
  app.add_option("--handshake-timeout", flags.handshake_timeout,
                 "Seconds for a TLS handshake or an upstream connect")
      ->check(CLI::Range(0.01, 300.0))
      ->capture_default_str();
  app.add_option("--idle-timeout", flags.idle_timeout,
                 "Seconds without a byte either way before a connection is closed")
      ->check(CLI::Range(0.01, 86400.0))
      ->capture_default_str();
  app.add_option("--drain-timeout", flags.drain_timeout,
                 "Seconds open connections get to finish after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("--max-connections", flags.options.limits.max_connections,
                 "Connections open at once; more are closed at accept")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))
      ->capture_default_str();
}

void addControlPlaneOptions(CLI::App& app, ProxyFlags& flags) {
  px::ControlPlaneConnection& control = flags.options.control_plane;
  app.add_option("--control-plane", control.address,
                 "Control-plane mode: policy feed and CA of `peergate webhook --ca` at HOST:PORT; "
                 "the key is made here, the certificate renewed at half-life")
      ->envname("PEERGATE_CONTROL_PLANE")
      ->type_name("HOST:PORT");
  control.ca_file = "/var/run/peergate/ca-root/root-cert.pem";
  app.add_option("--control-plane-ca", control.ca_file,
                 "PEM roots that verify the control plane's certificate")
      ->envname("PEERGATE_CA_ROOT")
      ->type_name("FILE")
      ->capture_default_str();
  control.token_file = "/var/run/secrets/tokens/token";
  app.add_option("--token-file", control.token_file,
                 "The pod's service-account token (audience peergate-ca), re-read per request")
      ->type_name("FILE")
      ->capture_default_str();
  app.add_option("--startup-timeout", flags.startup_timeout,
                 "Seconds to wait for the first policy and certificate before giving up")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
}

void addOptions(CLI::App& app, ProxyFlags& flags) {
  px::ProxyOptions& options = flags.options;
  app.add_option("--pod", flags.pod,
                 "This proxy's pod (default: $POD_NAMESPACE/$POD_NAME, as the injector sets)")
      ->type_name("NAMESPACE/NAME");
  app.add_option("--cluster-state", options.cluster_state,
                 "Local mode: cluster state FILE or DIR (as `peergate check -f` reads it); "
                 "reloaded on change")
      ->type_name("FILE|DIR");
  app.add_option("--certs", options.certs_dir,
                 "Local mode: directory with cert.pem, key.pem and ca.pem; reloaded on change")
      ->type_name("DIR");
  addControlPlaneOptions(app, flags);
  app.add_option("--trust-domain", options.trust_domain,
                 "SPIFFE trust domain (default: the mesh config's, cluster.local)");
  addPortOptions(app, options);
  app.add_option("--inbound-map", flags.inbound_map,
                 "Extra inbound listeners for running without iptables: a connection to LISTEN "
                 "counts as destined to APPPORT")
      ->type_name("LISTEN=APPPORT[,...]");
  app.add_option("--outbound-map", flags.outbound_map,
                 "Extra outbound listeners: a connection to LISTEN counts as destined to IP:PORT")
      ->type_name("LISTEN=IP:PORT[,...]");
  app.add_flag("--no-multiplex", flags.no_multiplex,
               "One mTLS connection per outbound connection to a peer proxy, instead of streams "
               "over one shared mTLS connection per destination");
  addTimeoutOptions(app, flags);
  app.add_option("--log-format", flags.log_format, "Log lines as json or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "Minimum log level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
}

}  // namespace

Command addProxyCommand(CLI::App& root) {
  auto flags = std::make_shared<ProxyFlags>();
  CLI::App* app = root.add_subcommand("proxy", kDescription);
  app->footer(
      "Exit codes: 0 after SIGTERM or SIGINT (open connections get --drain-timeout), 64 usage "
      "error, 65 cannot start (cluster state or certificates unusable, no policy and certificate "
      "from the control plane within --startup-timeout, a proxy port taken), 1 the "
      "admin port cannot be bound.");
  addOptions(*app, *flags);
  return {app, [flags](Streams& streams) { return runProxy(*flags, streams); }};
}

}  // namespace peergate::cli
