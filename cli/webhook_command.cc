// `peergate webhook`: the admission webhook server (docs/webhook.md). HTTPS admission on
// --port, plaintext /healthz, /readyz and /metrics on --admin-port, cluster state from files
// (--cluster-state) published into the StateStore, graceful drain on SIGTERM.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/duration.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/shutdown_signals.h"
#include "peergate/webhook/admin_server.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/config.h"
#include "peergate/webhook/control_plane.h"
#include "peergate/webhook/decision_log.h"
#include "peergate/webhook/https_server.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"
#include "peergate/webhook/static_state.h"

// Cluster state from the Kubernetes API (list+watch); the headers are private to webhook/.
#include "../webhook/src/cluster_watcher.h"
#include "../webhook/src/kube_client.h"
#include "../webhook/src/kube_config.h"
#include "../webhook/src/root_publisher.h"

namespace peergate::cli {
namespace {

namespace wh = peergate::webhook;
using nlohmann::ordered_json;

struct WebhookOptions {
  int port = 15017;
  int admin_port = 15014;
  std::string bind_address = "0.0.0.0";
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  std::string cluster_state;
  std::string kubeconfig;
  std::string mesh_config;  // NAMESPACE/NAME of the mesh ConfigMap to watch (kubernetes source)
  std::string config_file;
  std::string log_format = "json";
  std::string log_level = "info";
  std::size_t max_body_bytes = std::size_t{7} << 20;
  int workers = 0;  // event-loop threads; 0: four per CPU
  int max_connections = 1024;
  int max_concurrent_decisions = 0;
  double read_timeout = 10;
  double write_timeout = 10;
  int keep_alive_timeout = 10;
  double shutdown_delay = 5;
  double drain_timeout = 25;
  int cert_expiry_warning_hours = 24 * 7;
  // The control plane (CA + policy feed) runs when --ca is given.
  std::string ca_dir;
  int control_plane_port = 15012;
  std::string token_auth_file;
  std::string workload_cert_ttl = "24h";
  std::string trust_domain;
  int control_plane_workers = 128;
  int max_feed_wait_seconds = 60;
};

constexpr const char* kDescription =
    "Run the admission webhook: POST /validate, /mutate and /inject over HTTPS (TLS 1.2+), "
    "/healthz, /readyz and /metrics on the plaintext admin port. Cluster state comes from "
    "--cluster-state FILE|DIR (the inputs `peergate check` reads, reloaded when they change), or "
    "from the Kubernetes API: --kubeconfig FILE, or the in-cluster service account when neither "
    "flag is given inside a pod (list+watch; ready after every kind's first list). SIGTERM "
    "drains: /readyz turns 503, replies carry Connection: close for --shutdown-delay, then the "
    "listener stops and in-flight requests finish. With --ca it is also the proxies' control "
    "plane on --control-plane-port: a CA for their certificates and a long-poll policy feed "
    "(docs/control-plane.md).";

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

std::optional<std::string> readText(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return std::move(text).str();
}

// --config FILE, or the defaults; nullopt (logged) when the file is unusable.
std::optional<wh::WebhookConfig> loadConfig(const WebhookOptions& options) {
  wh::WebhookConfig config;
  if (!options.config_file.empty()) {
    const std::optional<std::string> text = readText(options.config_file);
    if (!text) {
      wh::logEvent(spdlog::level::err, "cannot read the config file",
                   {{"config", options.config_file}});
      return std::nullopt;
    }
    validation::Result<wh::WebhookConfig> parsed = wh::parseWebhookConfig(*text);
    if (!parsed) {
      validation::Error error = parsed.error();
      error.file = options.config_file;
      wh::logEvent(spdlog::level::err, "invalid config file", {{"error", error.describe()}});
      return std::nullopt;
    }
    config = std::move(parsed).value();
    // Valid, but an operator who turned an Error off should see it in every startup log.
    for (const std::string& warning : wh::configWarnings(config)) {
      wh::logEvent(spdlog::level::warn, "config turns off an Error finding",
                   {{"config", options.config_file}, {"warning", warning}});
    }
  }
  config.max_request_bytes = options.max_body_bytes;
  return config;
}

// ---------------------------------------------------------------------------------------------
// Cluster state source: files (--cluster-state) or the Kubernetes API (--kubeconfig, in-cluster).

// Nullptr with `error` set when the Kubernetes configuration cannot be used.
std::unique_ptr<wh::StateSource> makeStateSource(
    const WebhookOptions& options, wh::ServerMetrics& metrics, wh::MetricsRegistry& registry,
    std::unique_ptr<wh::ClusterWatcherMetrics>& watcher_metrics, std::string& error) {
  if (!options.cluster_state.empty()) {
    return std::make_unique<wh::StaticStateSource>(
        wh::StaticStateOptions{options.cluster_state, std::chrono::milliseconds(2000)}, metrics);
  }
  validation::Result<wh::KubeConfig> config =
      options.kubeconfig.empty() ? wh::loadInClusterConfig(wh::InClusterEnvironment::fromProcess())
                                 : wh::loadKubeconfig(options.kubeconfig);
  if (!config) {
    error = config.error().describe();
    return nullptr;
  }
  auto client = std::make_shared<wh::KubeClient>(std::move(config).value());
  if (!client->valid(&error)) return nullptr;
  wh::ClusterWatcherOptions watcher_options;
  watcher_options.resources = wh::defaultWatchedResources(options.mesh_config);
  watcher_metrics = std::make_unique<wh::ClusterWatcherMetrics>(registry);
  return std::make_unique<wh::ClusterWatcher>(std::move(client), std::move(watcher_options),
                                              metrics, *watcher_metrics);
}

// Everything the server runs, started in dependency order and stopped in reverse.
class WebhookProcess {
 public:
  WebhookProcess(const WebhookOptions& options, wh::WebhookConfig config)
      : options_(options),
        config_(std::move(config)),
        metrics_(registry_),
        certs_(wh::CertReloaderOptions{options.tls_cert, options.tls_key,
                                       std::chrono::milliseconds(2000),
                                       std::chrono::hours(options.cert_expiry_warning_hours)},
               metrics_),
        handler_(store_, config_) {}

  // Exit code when startup fails; nullopt when serving.
  std::optional<int> start() {
    std::string error;
    if (!certs_.loadInitial(error)) {
      wh::logEvent(spdlog::level::err, "cannot load the serving certificate", {{"error", error}});
      return kExitBadInput;
    }
    admin_ = std::make_unique<wh::AdminServer>(
        wh::AdminServerOptions{options_.bind_address, options_.admin_port,
                               config_.max_staleness_seconds},
        store_, &certs_, registry_);
    if (!admin_->start(error)) {
      wh::logEvent(spdlog::level::err, "cannot start the admin server", {{"error", error}});
      return kExitInternal;
    }
    // Liveness answers while a big state loads; readiness waits for it.
    source_ = makeStateSource(options_, metrics_, registry_, watcher_metrics_, error);
    if (!source_) {
      wh::logEvent(spdlog::level::err, "invalid Kubernetes API configuration", {{"error", error}});
      return kExitBadInput;
    }
    wh::logEvent(
        spdlog::level::info, "loading cluster state",
        {{"source", source_->name()},
         {"path", options_.cluster_state.empty() ? options_.kubeconfig : options_.cluster_state}});
    if (!source_->start(store_, error)) {
      wh::logEvent(spdlog::level::err, "cannot load the cluster state", {{"error", error}});
      return kExitBadInput;
    }
    wh::HttpsServerOptions https;
    https.bind_address = options_.bind_address;
    https.port = options_.port;
    https.client_ca_file = options_.client_ca;
    https.max_body_bytes = options_.max_body_bytes;
    https.worker_threads = options_.workers;
    https.max_concurrent_decisions = options_.max_concurrent_decisions;
    https.max_connections = options_.max_connections;
    https.read_timeout = millis(options_.read_timeout);
    https.write_timeout = millis(options_.write_timeout);
    https.keep_alive_timeout_seconds = options_.keep_alive_timeout;
    https_ = std::make_unique<wh::HttpsServer>(
        https, certs_,
        [this](std::string_view route, std::string_view content_type, std::string_view body) {
          return handler_.handle(route, content_type, body);
        },
        metrics_);
    if (!https_->start(error)) {
      wh::logEvent(spdlog::level::err, "cannot start the HTTPS server", {{"error", error}});
      return kExitInternal;
    }
    if (std::optional<int> failed = startControlPlane()) return failed;
    certs_.startWatching();
    wh::logEvent(spdlog::level::info, "serving",
                 {{"https_port", https_->port()},
                  {"admin_port", admin_->port()},
                  {"bind_address", options_.bind_address},
                  {"workers", https_->loopThreads()},
                  {"max_connections", options_.max_connections},
                  {"max_body_bytes", options_.max_body_bytes},
                  {"client_ca", options_.client_ca},
                  {"control_plane_port", control_plane_ ? control_plane_->port() : -1}});
    return std::nullopt;
  }

  // The CA and the policy feed, when --ca is given; nullopt when running (or not asked for).
  std::optional<int> startControlPlane() {
    if (options_.ca_dir.empty()) return std::nullopt;
    std::string error;
    if (makeControlClient(error)) tokens_ = makeTokenAuthenticator(error);
    if (!tokens_) {
      wh::logEvent(spdlog::level::err, "cannot set up token authentication", {{"error", error}});
      return kExitBadInput;
    }
    control_metrics_ = std::make_unique<wh::ControlPlaneMetrics>(registry_);
    wh::WorkloadCaOptions ca_options;
    ca_options.dir = options_.ca_dir;
    ca_options.cert_ttl = parseDuration(options_.workload_cert_ttl).value();
    ca_options.expiry_warning = std::chrono::hours(options_.cert_expiry_warning_hours);
    ca_ = std::make_unique<wh::WorkloadCa>(ca_options, *control_metrics_);
    if (!ca_->loadInitial(error)) {
      wh::logEvent(spdlog::level::err, "cannot load the CA", {{"error", error}});
      return kExitBadInput;
    }
    ca_->expiringSoon(std::chrono::system_clock::now());
    wh::ControlPlaneOptions cp;
    cp.bind_address = options_.bind_address;
    cp.port = options_.control_plane_port;
    cp.trust_domain = options_.trust_domain;
    cp.worker_threads = options_.control_plane_workers;
    cp.max_wait = std::chrono::seconds(options_.max_feed_wait_seconds);
    control_plane_ = std::make_unique<wh::ControlPlaneServer>(cp, certs_, store_, *ca_, *tokens_,
                                                              *control_metrics_);
    if (!control_plane_->start(error)) {
      wh::logEvent(spdlog::level::err, "cannot start the control plane", {{"error", error}});
      return kExitInternal;
    }
    ca_->startWatching(std::chrono::milliseconds(2000));
    if (control_client_) {
      root_publisher_ = std::make_unique<wh::RootPublisher>(
          control_client_, store_, [this] { return ca_->rootsPem(); }, registry_);
      root_publisher_->start();
    }
    return std::nullopt;
  }

  std::unique_ptr<wh::TokenAuthenticator> makeTokenAuthenticator(std::string& error) {
    if (!options_.token_auth_file.empty()) {
      auto loaded = wh::StaticTokenAuthenticator::load(options_.token_auth_file);
      if (!loaded) {
        error = loaded.error().describe();
        return nullptr;
      }
      return std::move(loaded).value();
    }
    if (!options_.cluster_state.empty()) {
      error = "--ca with --cluster-state needs --token-auth-file (no API server to ask)";
      return nullptr;
    }
    if (!control_client_) return nullptr;
    return std::make_unique<wh::TokenReviewAuthenticator>(control_client_,
                                                          wh::TokenReviewOptions{});
  }

  // The API client of the control plane (TokenReviews, the mesh-root ConfigMaps); none with
  // --cluster-state. False with `error` when the Kubernetes configuration is unusable.
  bool makeControlClient(std::string& error) {
    if (!options_.cluster_state.empty()) return true;
    validation::Result<wh::KubeConfig> config =
        options_.kubeconfig.empty()
            ? wh::loadInClusterConfig(wh::InClusterEnvironment::fromProcess())
            : wh::loadKubeconfig(options_.kubeconfig);
    if (!config) {
      error = config.error().describe();
      return false;
    }
    control_client_ = std::make_shared<wh::KubeClient>(std::move(config).value());
    return control_client_->valid(&error);
  }

  bool httpsRunning() const { return https_ && https_->running(); }

  // SIGTERM: readiness false and Connection: close at once, keep answering for the shutdown
  // delay (endpoints and load balancers notice), stop accepting, let in-flight requests finish.
  int drain(const sigset_t& signals, int signal_number) {
    wh::logEvent(spdlog::level::info, "shutdown requested: draining",
                 {{"signal", signal_number == SIGINT ? "SIGINT" : "SIGTERM"},
                  {"shutdown_delay_seconds", options_.shutdown_delay},
                  {"drain_timeout_seconds", options_.drain_timeout}});
    admin_->setDraining(true);
    https_->beginDrain();
    if (options_.shutdown_delay > 0 &&
        waitForShutdownSignal(signals, millis(options_.shutdown_delay)) != 0) {
      wh::logEvent(spdlog::level::warn, "second signal: skipping the shutdown delay");
    }
    auto stopped = std::async(std::launch::async, [this] {
      if (control_plane_) control_plane_->shutdown();
      https_->shutdown();
    });
    if (stopped.wait_for(millis(options_.drain_timeout)) != std::future_status::ready) {
      wh::logEvent(spdlog::level::err, "drain timed out; exiting with requests in flight",
                   {{"drain_timeout_seconds", options_.drain_timeout}});
      spdlog::default_logger()->flush();
      std::_Exit(kExitInternal);
    }
    stop();
    wh::logEvent(spdlog::level::info, "drained; exiting");
    spdlog::default_logger()->flush();
    return kExitOk;
  }

  void stop() {
    if (root_publisher_) root_publisher_->stop();
    if (control_plane_) control_plane_->shutdown();
    if (ca_) ca_->stop();
    if (https_) https_->shutdown();
    certs_.stop();
    if (source_) source_->stop();
    if (admin_) admin_->shutdown();
  }

 private:
  const WebhookOptions& options_;
  const wh::WebhookConfig config_;
  wh::MetricsRegistry registry_;
  wh::ServerMetrics metrics_;
  wh::StateStore store_;
  wh::CertReloader certs_;
  std::unique_ptr<wh::ClusterWatcherMetrics> watcher_metrics_;
  std::unique_ptr<wh::StateSource> source_;
  wh::AdmissionHandler handler_;
  std::unique_ptr<wh::AdminServer> admin_;
  std::unique_ptr<wh::HttpsServer> https_;
  std::unique_ptr<wh::TokenAuthenticator> tokens_;
  std::unique_ptr<wh::ControlPlaneMetrics> control_metrics_;
  std::unique_ptr<wh::WorkloadCa> ca_;
  std::unique_ptr<wh::ControlPlaneServer> control_plane_;
  std::shared_ptr<wh::KubeClient> control_client_;
  std::unique_ptr<wh::RootPublisher> root_publisher_;
};

int runWebhook(const WebhookOptions& options, Streams& streams) {
  const std::optional<wh::LogFormat> format = wh::parseLogFormat(options.log_format);
  wh::configureLogging(format.value_or(wh::LogFormat::Json),
                       spdlog::level::from_str(options.log_level));
  if (options.cluster_state.empty() && options.kubeconfig.empty() &&
      !wh::InClusterEnvironment::fromProcess().inCluster()) {
    streams.err << "Error: give --cluster-state FILE|DIR (or --kubeconfig FILE, or run "
                   "in a cluster)\n";
    return kExitUsage;
  }
  if (!options.mesh_config.empty()) {
    if (const std::optional<std::string> problem = wh::checkMeshConfigRef(options.mesh_config)) {
      streams.err << "Error: --mesh-config: " << *problem << "\n";
      return kExitUsage;
    }
  }
  std::optional<wh::WebhookConfig> config = loadConfig(options);
  if (!config) return kExitBadInput;

  const sigset_t signals = blockShutdownSignals();
  WebhookProcess process(options, std::move(*config));
  if (const std::optional<int> failed = process.start()) {
    process.stop();
    return *failed;
  }
  for (;;) {
    if (const int signal_number = waitForShutdownSignal(signals, std::chrono::seconds(1))) {
      return process.drain(signals, signal_number);
    }
    if (!process.httpsRunning()) {
      wh::logEvent(spdlog::level::err, "the HTTPS listener stopped unexpectedly");
      process.stop();
      return kExitInternal;
    }
  }
}

void addControlPlaneOptions(CLI::App& app, WebhookOptions& options) {
  auto* ca = app.add_option("--ca", options.ca_dir,
                            "Run the control plane: sign proxy certificates with DIR/ca.pem and "
                            "DIR/ca-key.pem (re-read when they change; DIR/trust-bundle.pem is "
                            "added to the roots proxies trust) and serve the policy feed")
                 ->type_name("DIR");
  app.add_option("--control-plane-port", options.control_plane_port,
                 "HTTPS port of the CA and the policy feed (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str()
      ->needs(ca);
  app.add_option("--token-auth-file", options.token_auth_file,
                 "Proxies' tokens from a file in the API server's --token-auth-file format "
                 "(token,system:serviceaccount:NS:SA,uid); default with the Kubernetes API: "
                 "TokenReview, audience peergate-ca")
      ->type_name("FILE")
      ->needs(ca);
  app.add_option("--workload-cert-ttl", options.workload_cert_ttl,
                 "Lifetime of proxy certificates (proxies renew at half of it)")
      ->check([](const std::string& text) {
        auto ttl = parseDuration(text);
        if (!ttl) return ttl.error().message;
        return ttl.value() < std::chrono::seconds(4) ? std::string("at least 4s") : std::string();
      })
      ->capture_default_str();
  app.add_option("--trust-domain", options.trust_domain,
                 "SPIFFE trust domain of proxy certificates (default: the mesh config's)");
  app.add_option("--control-plane-workers", options.control_plane_workers,
                 "Control-plane threads; each proxy waiting on the feed holds one")
      ->check(CLI::Range(8, 4096))
      ->capture_default_str();
  app.add_option("--max-feed-wait", options.max_feed_wait_seconds,
                 "Longest a policy feed request is held, in seconds")
      ->check(CLI::Range(1, 600))
      ->capture_default_str();
}

void addOptions(CLI::App& app, WebhookOptions& options) {
  app.add_option("--port", options.port, "HTTPS admission port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--admin-port", options.admin_port,
                 "Plaintext port for /healthz, /readyz and /metrics (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--bind-address", options.bind_address, "Address both ports listen on")
      ->capture_default_str();
  app.add_option("--tls-cert", options.tls_cert,
                 "Serving certificate (PEM, leaf first); re-read when it changes")
      ->required()
      ->type_name("FILE");
  app.add_option("--tls-key", options.tls_key, "Private key of the serving certificate (PEM)")
      ->required()
      ->type_name("FILE");
  app.add_option("--client-ca", options.client_ca,
                 "Require client certificates signed by this CA (PEM)")
      ->type_name("FILE");
  auto* state = app.add_option("--cluster-state", options.cluster_state,
                               "Cluster state from files: FILE or DIR as `peergate check -f` "
                               "reads them; reloaded when they change")
                    ->type_name("FILE|DIR");
  app.add_option("--kubeconfig", options.kubeconfig,
                 "List+watch the cluster through this kubeconfig's current context (default "
                 "inside a pod: the service account)")
      ->type_name("FILE")
      ->excludes(state);
  app.add_option("--mesh-config", options.mesh_config,
                 "Also watch this mesh ConfigMap (istio or peergate-mesh) from the Kubernetes API")
      ->type_name("NAMESPACE/NAME")
      ->excludes(state);
  app.add_option("--config", options.config_file,
                 "Webhook config (YAML: actions, injection, maxStalenessSeconds, "
                 "failOpenWhenStale)")
      ->type_name("FILE");
  app.add_option("--log-format", options.log_format, "Log lines as json or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  app.add_option("--log-level", options.log_level, "Minimum log level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--max-body-bytes", options.max_body_bytes,
                 "Largest AdmissionReview body; larger ones are denied with code 413")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--workers", options.workers,
                 "HTTPS event-loop threads; each serves many connections and runs their "
                 "decisions (0: four per CPU, at most 64, so that a preempted thread holds up few "
                 "connections)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--max-connections", options.max_connections,
                 "HTTPS connections open at once (keep-alive included); at the cap new ones "
                 "wait in the listen backlog")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-concurrent-decisions", options.max_concurrent_decisions,
                 "Admission decisions computed at once; other requests wait (0: no limit beyond "
                 "the event-loop threads)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--read-timeout", options.read_timeout,
                 "Seconds a read (handshake, headers, body) may wait for the client")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();
  app.add_option("--write-timeout", options.write_timeout,
                 "Seconds a write may wait for the client")
      ->check(CLI::Range(0.1, 300.0))
      ->capture_default_str();
  app.add_option("--keep-alive-timeout", options.keep_alive_timeout,
                 "Seconds an idle keep-alive connection is kept")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--shutdown-delay", options.shutdown_delay,
                 "Seconds between SIGTERM (readiness false) and closing the listener")
      ->check(CLI::Range(0.0, 300.0))
      ->capture_default_str();
  app.add_option("--drain-timeout", options.drain_timeout,
                 "Seconds in-flight requests get after the listener closes")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  app.add_option("--cert-expiry-warning", options.cert_expiry_warning_hours,
                 "Warn in the log this many hours before the serving certificate expires")
      ->check(CLI::Range(0, 24 * 365))
      ->capture_default_str();
  addControlPlaneOptions(app, options);
}

}  // namespace

Command addWebhookCommand(CLI::App& root) {
  auto options = std::make_shared<WebhookOptions>();
  CLI::App* app = root.add_subcommand("webhook", kDescription);
  app->footer(
      "Exit codes: 0 after a graceful drain, 64 usage error (bad flag, no cluster-state source), "
      "65 unusable input at start (certificate, key, config or cluster state), 1 a port cannot be "
      "bound, the listener died or the drain timed out.");
  addOptions(*app, *options);
  return {app, [options](Streams& streams) { return runWebhook(*options, streams); }};
}

}  // namespace peergate::cli
