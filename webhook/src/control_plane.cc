#include "peergate/webhook/control_plane.h"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "digest.h"
#include "peergate/identity/ca.h"
#include "peergate/identity/certificate.h"
#include "peergate/identity/issuer.h"
#include "peergate/identity/spiffe.h"
#include "peergate/validation/dataplane_policy.h"
#include "peergate/webhook/decision_log.h"
#include "tls_server_context.h"

namespace peergate::webhook {
namespace {

using nlohmann::json;
using SystemClock = std::chrono::system_clock;

constexpr const char* kTrustBundleFile = "trust-bundle.pem";
constexpr std::size_t kMaxCaFileBytes = std::size_t{1} << 20;

std::string readSmallFile(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return {};
  std::ostringstream text;
  text << stream.rdbuf();
  std::string content = text.str();
  return content.size() > kMaxCaFileBytes ? std::string() : content;
}

double unixSeconds(SystemClock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

}  // namespace

ControlPlaneMetrics::ControlPlaneMetrics(MetricsRegistry& registry)
    : certificates(registry.counter("peergate_ca_certificates_total",
                                    "Proxy certificate requests by result (issued, "
                                    "unauthenticated, forbidden, bad_csr, unavailable)",
                                    {"result"})),
      ca_expiry(registry.gauge("peergate_ca_cert_expiry_timestamp_seconds",
                               "notAfter of the mesh root that signs proxy certificates")),
      ca_reloads(registry.counter("peergate_ca_reloads_total",
                                  "Changed CA files seen, by result (success, error)", {"result"})),
      feed_requests(registry.counter("peergate_policy_feed_requests_total",
                                     "Policy feed answers by result (changed, unchanged, "
                                     "unauthenticated, forbidden, not_found, unavailable, busy)",
                                     {"result"})),
      feed_waiting(registry.gauge("peergate_policy_feed_waiting",
                                  "Proxies holding a long-poll on the policy feed")) {}

// ---------------------------------------------------------------------------------------------
// The CA

struct WorkloadCa::Material {
  identity::CertificateAuthority ca;
  std::string roots_pem;
  std::string content;  // ca.pem + ca-key.pem + trust-bundle.pem, to notice a change
  SystemClock::time_point not_after;
};

namespace {

std::string caContent(const std::string& dir) {
  return readSmallFile(dir + "/" + identity::kCaCertFile) +
         readSmallFile(dir + "/" + identity::kCaKeyFile) +
         readSmallFile(dir + "/" + kTrustBundleFile);
}

std::string withNewline(std::string text) {
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  return text;
}

}  // namespace

WorkloadCa::WorkloadCa(WorkloadCaOptions options, ControlPlaneMetrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

WorkloadCa::~WorkloadCa() { stop(); }

void WorkloadCa::startWatching(std::chrono::milliseconds interval) {
  std::lock_guard lock(watch_mutex_);
  if (watcher_.joinable()) return;
  stopping_ = false;
  watcher_ = std::thread([this, interval] {
    std::unique_lock held(watch_mutex_);
    while (!watch_cv_.wait_for(held, interval, [this] { return stopping_; })) {
      held.unlock();
      reloadIfChanged();
      expiringSoon(SystemClock::now());
      held.lock();
    }
  });
}

void WorkloadCa::stop() {
  {
    std::lock_guard lock(watch_mutex_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

bool WorkloadCa::loadInitial(std::string& error) {
  const std::string content = caContent(options_.dir);
  validation::Result<identity::CertificateAuthority> ca = identity::loadCa(options_.dir);
  if (!ca) {
    error = ca.error().describe();
    return false;
  }
  auto material = std::make_shared<Material>();
  material->ca = std::move(ca).value();
  material->roots_pem = withNewline(readSmallFile(options_.dir + "/" + identity::kCaCertFile)) +
                        readSmallFile(options_.dir + "/" + kTrustBundleFile);
  material->content = content;
  material->not_after = identity::validityOf(material->ca.cert.get()).not_after;
  metrics_.ca_expiry.set(unixSeconds(material->not_after));
  logEvent(spdlog::level::info, "workload CA loaded",
           {{"dir", options_.dir},
            {"subject", identity::subjectText(material->ca.cert.get())},
            {"not_after", identity::isoTime(material->not_after)}});
  std::lock_guard lock(mutex_);
  material_ = std::move(material);
  return true;
}

bool WorkloadCa::reloadIfChanged() {
  const std::string content = caContent(options_.dir);
  if (content.empty() || content == material()->content || content == failed_content_) {
    return false;
  }
  std::string error;
  if (!loadInitial(error) || material()->content != content) {
    // Half-written or mismatched files: keep signing with the current root, say it once.
    failed_content_ = content;
    metrics_.ca_reloads.inc({"error"});
    logEvent(spdlog::level::warn, "CA reload failed; keeping the current root", {{"error", error}});
    return false;
  }
  failed_content_.clear();
  metrics_.ca_reloads.inc({"success"});
  return true;
}

std::shared_ptr<const WorkloadCa::Material> WorkloadCa::material() const {
  std::lock_guard lock(mutex_);
  return material_;
}

std::string WorkloadCa::rootsPem() const { return material()->roots_pem; }

validation::Result<WorkloadCa::Issued> WorkloadCa::sign(std::string_view csr_pem,
                                                        const std::string& spiffe_uri) const {
  const std::shared_ptr<const Material> current = material();
  validation::Result<identity::SpiffeId> id = identity::parseSpiffeId(spiffe_uri);
  if (!id) return id.error();
  identity::IssueOptions issue;
  issue.now = SystemClock::now();
  issue.ttl = options_.cert_ttl;
  validation::Result<identity::CertPtr> cert =
      identity::signWorkloadCsr(current->ca, csr_pem, id.value(), issue);
  if (!cert) return cert.error();
  validation::Result<std::string> pem = identity::certificatePem(cert.value().get());
  if (!pem) return pem.error();
  return Issued{std::move(pem).value(), current->roots_pem,
                identity::validityOf(cert.value().get()).not_after};
}

bool WorkloadCa::expiringSoon(SystemClock::time_point now) {
  const std::shared_ptr<const Material> current = material();
  if (current->not_after - now > options_.expiry_warning) return false;
  const auto steady = std::chrono::steady_clock::now();
  if (last_warning_ == std::chrono::steady_clock::time_point{} ||
      steady - last_warning_ > std::chrono::hours(24)) {
    last_warning_ = steady;
    logEvent(spdlog::level::warn,
             "the mesh root CA expires soon: rotate it (docs/operations.md, CA rotation)",
             {{"not_after", identity::isoTime(current->not_after)}, {"dir", options_.dir}});
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The server

namespace {

struct HttpError {
  int status = 500;
  std::string code;
  std::string message;
};

void reply(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

void replyError(httplib::Response& response, const HttpError& error) {
  reply(response, error.status, {{"error", {{"code", error.code}, {"message", error.message}}}});
  if (error.status == 503 || error.status == 429) response.set_header("Retry-After", "5");
  if (error.status == 401) response.set_header("WWW-Authenticate", "Bearer");
}

std::string bearerToken(const httplib::Request& request) {
  const std::string header = request.get_header_value("Authorization");
  constexpr std::string_view kPrefix = "Bearer ";
  if (header.size() <= kPrefix.size() || header.compare(0, kPrefix.size(), kPrefix) != 0) {
    return {};
  }
  return header.substr(kPrefix.size());
}

// What the feed sends for one snapshot to everyone: the peer index, as JSON text and its hash.
struct SharedPeers {
  StateStore::Snapshot state;
  std::string trust_domain;
  std::shared_ptr<const validation::PeerIndex> index;
  std::string fragment;  // `"peers":[...],"workloads":{...}`
  std::string hash;
};

struct FeedAnswer {
  std::optional<HttpError> error;
  std::string version;
  std::string body;
};

FeedAnswer failed(int status, std::string code, std::string message) {
  FeedAnswer answer;
  answer.error = HttpError{status, std::move(code), std::move(message)};
  return answer;
}

}  // namespace

class ControlPlaneServer::Impl {
 public:
  Impl(ControlPlaneOptions options, CertReloader& certs, const StateStore& store, WorkloadCa& ca,
       TokenAuthenticator& tokens, ControlPlaneMetrics& metrics)
      : options_(std::move(options)),
        certs_(certs),
        store_(store),
        ca_(ca),
        tokens_(tokens),
        metrics_(metrics),
        server_([this](SSL_CTX& ctx) {
          return configureServerTls(ctx, certs_, "peergate-control-plane", context_error_);
        }) {}

  bool setup(std::string& error, int& bound_port);
  void listen() { server_.listen_after_bind(); }
  void shutdown() {
    stopping_ = true;
    server_.stop();
  }

 private:
  void handleCertificate(const httplib::Request& request, httplib::Response& response);
  void handlePolicy(const httplib::Request& request, httplib::Response& response);
  std::optional<HttpError> authenticate(const httplib::Request& request, Caller& caller);
  std::string trustDomain(const StateStore::Snapshot& state) const;
  std::shared_ptr<const SharedPeers> peersFor(const StateStore::Snapshot& state);
  FeedAnswer answer(const Caller& caller, const std::string& ns, const std::string& name);
  // What an answer was computed from. Taken before the answer, so a change that lands while
  // the answer is being computed still wakes the held request.
  struct FeedInputs {
    std::uint64_t generation = 0;
    std::string roots;
  };
  FeedInputs feedInputs() const { return {store_.generation(), ca_.rootsPem()}; }
  void holdUntilChanged(const Caller& caller, const std::string& ns, const std::string& name,
                        FeedInputs seen, std::chrono::seconds wait, FeedAnswer& current);

  const ControlPlaneOptions options_;
  CertReloader& certs_;
  const StateStore& store_;
  WorkloadCa& ca_;
  TokenAuthenticator& tokens_;
  ControlPlaneMetrics& metrics_;
  std::string context_error_;
  httplib::SSLServer server_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> waiting_{0};
  std::mutex peers_mutex_;
  std::shared_ptr<const SharedPeers> peers_;
};

bool ControlPlaneServer::Impl::setup(std::string& error, int& bound_port) {
  if (!server_.is_valid()) {
    error = context_error_.empty() ? "cannot create the TLS context" : context_error_;
    return false;
  }
  std::signal(SIGPIPE, SIG_IGN);
  const int workers = std::max(options_.worker_threads, 4);
  server_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  server_.set_payload_max_length(options_.max_body_bytes);
  server_.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(options_.read_timeout));
  server_.set_write_timeout(std::chrono::seconds(10));
  server_.set_keep_alive_timeout(options_.max_wait.count() + 10);
  server_.set_tcp_nodelay(true);
  server_.Post("/v1/certificates",
               [this](const httplib::Request& request, httplib::Response& response) {
                 handleCertificate(request, response);
               });
  server_.Get("/v1/policy", [this](const httplib::Request& request, httplib::Response& response) {
    handlePolicy(request, response);
  });
  server_.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    const std::string code = response.status == 413 ? "too_large" : "not_found";
    replyError(response, {response.status, code,
                          response.status == 413 ? "the request body is too large"
                                                 : "no such endpoint: POST /v1/certificates, "
                                                   "GET /v1/policy"});
  });
  if (options_.port == 0) {
    bound_port = server_.bind_to_any_port(options_.bind_address);
  } else if (server_.bind_to_port(options_.bind_address, options_.port)) {
    bound_port = options_.port;
  }
  if (bound_port <= 0) {
    error = "cannot bind " + options_.bind_address + ":" + std::to_string(options_.port);
    return false;
  }
  return true;
}

std::optional<HttpError> ControlPlaneServer::Impl::authenticate(const httplib::Request& request,
                                                                Caller& caller) {
  const std::string token = bearerToken(request);
  if (token.empty()) {
    return HttpError{401, "unauthenticated",
                     "send the pod's service-account token as `Authorization: Bearer <token>`"};
  }
  AuthOutcome outcome = tokens_.authenticate(token);
  switch (outcome.status) {
    case AuthOutcome::Status::Authenticated:
      caller = std::move(outcome.caller);
      return std::nullopt;
    case AuthOutcome::Status::Unavailable:
      logEvent(spdlog::level::warn, "cannot authenticate a proxy", {{"error", outcome.message}});
      return HttpError{503, "unavailable", "cannot check the token now; retry"};
    case AuthOutcome::Status::Rejected:
      break;
  }
  return HttpError{401, "unauthenticated", outcome.message};
}

std::string ControlPlaneServer::Impl::trustDomain(const StateStore::Snapshot& state) const {
  if (!options_.trust_domain.empty()) return options_.trust_domain;
  return state ? state->mesh().trust_domain : std::string("cluster.local");
}

void ControlPlaneServer::Impl::handleCertificate(const httplib::Request& request,
                                                 httplib::Response& response) {
  Caller caller;
  if (auto error = authenticate(request, caller)) {
    metrics_.certificates.inc({error->status == 503 ? "unavailable" : "unauthenticated"});
    return replyError(response, *error);
  }
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("csr") || !body["csr"].is_string()) {
    metrics_.certificates.inc({"bad_csr"});
    return replyError(response, {400, "bad_request", "expected a JSON body {\"csr\": \"<PEM>\"}"});
  }
  const std::string uri = "spiffe://" + trustDomain(store_.current()) + "/ns/" +
                          caller.namespace_name + "/sa/" + caller.service_account;
  validation::Result<WorkloadCa::Issued> issued = ca_.sign(body["csr"].get<std::string>(), uri);
  if (!issued) {
    const bool identity = issued.error().code == "csr.identity" || issued.error().code == "csr.san";
    metrics_.certificates.inc({identity ? "forbidden" : "bad_csr"});
    return replyError(response, {identity ? 403 : 400, issued.error().code,
                                 issued.error().message + " (the token is " + uri + "'s)"});
  }
  metrics_.certificates.inc({"issued"});
  logEvent(spdlog::level::info, "certificate issued",
           {{"spiffe_id", uri},
            {"pod", caller.pod_name},
            {"not_after", identity::isoTime(issued.value().not_after)}});
  reply(response, 200,
        {{"certificateChain", issued.value().certificate_pem},
         {"rootCertificates", issued.value().roots_pem},
         {"notAfter", identity::isoTime(issued.value().not_after)}});
}

std::shared_ptr<const SharedPeers> ControlPlaneServer::Impl::peersFor(
    const StateStore::Snapshot& state) {
  const std::string domain = trustDomain(state);
  std::lock_guard lock(peers_mutex_);
  if (peers_ && peers_->state == state && peers_->trust_domain == domain) return peers_;
  auto shared = std::make_shared<SharedPeers>();
  shared->state = state;
  shared->trust_domain = domain;
  shared->index =
      std::make_shared<const validation::PeerIndex>(validation::indexPeers(*state, domain));
  const std::string dumped = validation::peersToJson(*shared->index).dump();
  shared->fragment = dumped.substr(1, dumped.size() - 2);
  shared->hash = sha256Hex(shared->fragment);
  peers_ = shared;
  return shared;
}

FeedAnswer ControlPlaneServer::Impl::answer(const Caller& caller, const std::string& ns,
                                            const std::string& name) {
  const StateStore::Snapshot state = store_.current();
  if (!state) return failed(503, "unavailable", "the cluster state is not loaded yet");
  const std::shared_ptr<const SharedPeers> peers = peersFor(state);
  auto policy =
      validation::resolveDataplanePolicy(*state, ns, name, peers->trust_domain, peers->index);
  if (!policy) return failed(404, "not_found", policy.error().message);
  if (caller.namespace_name != ns || caller.service_account != policy.value().service_account ||
      (!caller.pod_name.empty() && caller.pod_name != name)) {
    return failed(403, "forbidden",
                  "the token of " + caller.namespace_name + "/" + caller.service_account +
                      " cannot read the policy of pod " + ns + "/" + name + " (service account " +
                      policy.value().service_account + ")");
  }
  const std::string own = validation::ownPolicyToJson(policy.value()).dump();
  const std::string roots = ca_.rootsPem();
  FeedAnswer result;
  result.version = sha256Hex(own + peers->hash + roots, 16);
  result.body = own.substr(0, own.size() - 1) + "," + peers->fragment +
                ",\"rootCertificates\":" + json(roots).dump() + ",\"version\":\"" + result.version +
                "\"}";
  return result;
}

void ControlPlaneServer::Impl::holdUntilChanged(const Caller& caller, const std::string& ns,
                                                const std::string& name, FeedInputs seen,
                                                std::chrono::seconds wait, FeedAnswer& current) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  const std::string known_version = current.version;
  std::uint64_t generation = seen.generation;
  std::string roots = std::move(seen.roots);
  ++waiting_;
  metrics_.feed_waiting.set(waiting_.load());
  while (!current.error && current.version == known_version && !stopping_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    const std::uint64_t now_generation =
        store_.waitForChange(generation, std::min(left, options_.poll_slice));
    std::string now_roots = ca_.rootsPem();
    if (now_generation == generation && now_roots == roots) continue;
    generation = now_generation;
    roots = std::move(now_roots);
    current = answer(caller, ns, name);
  }
  --waiting_;
  metrics_.feed_waiting.set(waiting_.load());
}

void ControlPlaneServer::Impl::handlePolicy(const httplib::Request& request,
                                            httplib::Response& response) {
  Caller caller;
  if (auto error = authenticate(request, caller)) {
    metrics_.feed_requests.inc({error->status == 503 ? "unavailable" : "unauthenticated"});
    return replyError(response, *error);
  }
  const std::string pod = request.get_param_value("pod");
  const std::size_t slash = pod.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == pod.size()) {
    metrics_.feed_requests.inc({"bad_request"});
    return replyError(response, {400, "bad_request", "expected ?pod=NAMESPACE/NAME"});
  }
  const std::string ns = pod.substr(0, slash);
  const std::string name = pod.substr(slash + 1);
  const std::string known = request.get_param_value("version");
  long long wait_seconds = 0;
  if (request.has_param("waitSeconds")) {
    wait_seconds = std::atoll(request.get_param_value("waitSeconds").c_str());
  }
  wait_seconds = std::clamp<long long>(wait_seconds, 0, options_.max_wait.count());
  FeedInputs inputs = feedInputs();
  FeedAnswer current = answer(caller, ns, name);
  if (!current.error && current.version == known && wait_seconds > 0) {
    if (waiting_.load() >= options_.worker_threads - 4) {
      metrics_.feed_requests.inc({"busy"});
      return replyError(response, {429, "busy", "too many proxies waiting; retry"});
    }
    holdUntilChanged(caller, ns, name, std::move(inputs), std::chrono::seconds(wait_seconds),
                     current);
  }
  if (current.error) {
    metrics_.feed_requests.inc({current.error->code});
    return replyError(response, *current.error);
  }
  metrics_.feed_requests.inc({current.version == known ? "unchanged" : "changed"});
  response.status = 200;
  response.set_content(std::move(current.body), "application/json");
}

ControlPlaneServer::ControlPlaneServer(ControlPlaneOptions options, CertReloader& certs,
                                       const StateStore& store, WorkloadCa& ca,
                                       TokenAuthenticator& tokens, ControlPlaneMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), certs, store, ca, tokens, metrics)) {}

ControlPlaneServer::~ControlPlaneServer() { shutdown(); }

bool ControlPlaneServer::start(std::string& error) {
  int bound = 0;
  if (!impl_->setup(error, bound)) return false;
  port_ = bound;
  listener_ = std::thread([this] { impl_->listen(); });
  return true;
}

void ControlPlaneServer::shutdown() {
  impl_->shutdown();
  if (listener_.joinable()) listener_.join();
}

}  // namespace peergate::webhook
