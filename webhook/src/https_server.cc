#include "peergate/webhook/https_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <mutex>
#include <semaphore>
#include <utility>
#include <vector>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <nlohmann/json.hpp>

#include "peergate/webhook/decision_log.h"
#include "tls_server_context.h"

namespace peergate::webhook {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 3> kRoutes = {"/validate", "/mutate", "/inject"};
// How much of the body start is kept to find apiVersion and request.uid when the body is
// rejected (Go's encoder writes kind, apiVersion, then request.uid first).
constexpr std::size_t kUidPrefixBytes = 64 * 1024;
// A too-large body is read and dropped up to this multiple of the limit, so the client gets
// the reply before the connection closes; beyond it the connection is cut.
constexpr std::size_t kDiscardFactor = 4;

// A fixed set of worker threads over a bounded queue of accepted connections. cpp-httplib
// serves a connection, keep-alive included, on one worker; when all are busy and the queue is
// full, enqueue() blocks the accept loop, so the kernel's backlog absorbs the burst instead of
// this process's memory.
class BoundedWorkerPool final : public httplib::TaskQueue {
 public:
  BoundedWorkerPool(std::size_t threads, std::size_t max_queued, ServerMetrics* metrics)
      : max_queued_(std::max<std::size_t>(max_queued, 1)), metrics_(metrics) {
    threads = std::max<std::size_t>(threads, 1);
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~BoundedWorkerPool() override { shutdown(); }

  void enqueue(std::function<void()> task) override {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [this] { return queue_.size() < max_queued_ || shutdown_; });
    queue_.push_back(std::move(task));
    if (metrics_ != nullptr) metrics_->queued_connections.set(static_cast<double>(queue_.size()));
    ready_.notify_one();
  }

  // Runs what is queued, then joins the workers.
  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      if (shutdown_) return;
      shutdown_ = true;
    }
    ready_.notify_all();
    space_.notify_all();
    for (std::thread& worker : workers_) {
      if (worker.joinable()) worker.join();
    }
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [this] { return !queue_.empty() || shutdown_; });
        if (queue_.empty()) return;  // shutting down and nothing left
        task = std::move(queue_.front());
        queue_.pop_front();
        if (metrics_ != nullptr) {
          metrics_->queued_connections.set(static_cast<double>(queue_.size()));
        }
      }
      space_.notify_one();
      if (metrics_ != nullptr) metrics_->busy_workers.add({}, 1);
      task();
      if (metrics_ != nullptr) metrics_->busy_workers.add({}, -1);
    }
  }

  const std::size_t max_queued_;
  ServerMetrics* metrics_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable space_;
  std::deque<std::function<void()>> queue_;
  bool shutdown_ = false;
  std::vector<std::thread> workers_;
};

// Finds top-level apiVersion and request.uid in a JSON text that may be cut anywhere.
class ReviewIdentitySax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string api_version;
  std::string uid;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool string(string_t& value) override {
    if (keys_.size() == 1 && keys_[0] == "apiVersion") api_version = value;
    if (keys_.size() == 2 && keys_[0] == "request" && keys_[1] == "uid") uid = value;
    scalar();
    return api_version.empty() || uid.empty();  // stop once both are known
  }
  bool start_object(std::size_t) override {
    containers_.push_back('{');
    return true;
  }
  bool key(string_t& value) override {
    // Depth of this key = number of open objects; keep the path of keys to it.
    keys_.resize(containers_.size() - 1);
    keys_.push_back(value);
    return true;
  }
  bool end_object() override {
    containers_.pop_back();
    keys_.resize(std::min(keys_.size(), containers_.size()));
    return true;
  }
  bool start_array(std::size_t) override {
    containers_.push_back('[');
    return true;
  }
  bool end_array() override {
    containers_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool scalar() { return true; }
  std::vector<char> containers_;
  std::vector<std::string> keys_;
};

struct ReviewIdentity {
  std::string api_version;
  std::string uid;
};

ReviewIdentity identityOf(std::string_view body) {
  ReviewIdentitySax sax;
  // Arrays break the simple key path; only objects matter for the two fields we want.
  nlohmann::json::sax_parse(body.substr(0, std::min(body.size(), kUidPrefixBytes)), &sax,
                            nlohmann::json::input_format_t::json, false);
  return {sax.api_version, sax.uid};
}

std::string_view reasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 413:
      return "RequestEntityTooLarge";
    default:
      return "InternalError";
  }
}

// An AdmissionReview that denies with `code` and `message`, in the request's apiVersion.
std::string errorReview(const ReviewIdentity& identity, int code, const std::string& message) {
  nlohmann::ordered_json review;
  review["apiVersion"] = identity.api_version == "admission.k8s.io/v1beta1"
                             ? "admission.k8s.io/v1beta1"
                             : "admission.k8s.io/v1";
  review["kind"] = "AdmissionReview";
  review["response"] = {
      {"uid", identity.uid},
      {"allowed", false},
      {"status", {{"code", code}, {"reason", reasonFor(code)}, {"message", message}}}};
  return review.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// {mode, result} of peergate_injections_total; "stale": admitted uninjected (failOpenWhenStale).
LabelValues injectionLabels(const AdmissionOutcome& outcome) {
  const bool injected = outcome.injection == "sidecar" || outcome.injection == "ambient";
  if (injected) return {outcome.injection, outcome.errored() ? "error" : "injected"};
  if (outcome.errored()) return {"none", "error"};
  return {"none", outcome.injection == "stale" ? "stale" : "skipped"};
}

std::string webhookName(std::string_view route) {
  return std::string(route.substr(route.empty() || route[0] != '/' ? 0 : 1));
}

std::string humanBytes(std::size_t bytes) {
  char buffer[32];
  if (bytes >= (std::size_t{1} << 20)) {
    std::snprintf(buffer, sizeof buffer, "%.1f MiB",
                  static_cast<double>(bytes) / static_cast<double>(std::size_t{1} << 20));
  } else {
    std::snprintf(buffer, sizeof buffer, "%zu bytes", bytes);
  }
  return buffer;
}

std::ptrdiff_t decisionSlots(int configured) {
  if (configured > 0) return configured;
  return std::max<std::ptrdiff_t>(1,
                                  static_cast<std::ptrdiff_t>(std::thread::hardware_concurrency()));
}

struct SlotRelease {
  std::counting_semaphore<>& slots;
  ~SlotRelease() { slots.release(); }
};

struct BodyRead {
  std::string body;          // the whole body, or its first kUidPrefixBytes when too large
  std::size_t received = 0;  // bytes read
  std::size_t declared = 0;  // Content-Length, when sent
  bool too_large = false;
  bool complete = false;  // the reader consumed the whole body
};

}  // namespace

class HttpsServer::Impl {
 public:
  Impl(HttpsServerOptions options, CertReloader& certs, AdmissionFunction decide,
       ServerMetrics& metrics, std::atomic<bool>& draining)
      : options_(std::move(options)),
        certs_(certs),
        decide_(std::move(decide)),
        metrics_(metrics),
        draining_(draining),
        decisions_(decisionSlots(options_.max_concurrent_decisions)),
        server_([this](SSL_CTX& ctx) { return setupContext(ctx); }) {}

  bool setup(std::string& error, int& bound_port);
  void listen() { server_.listen_after_bind(); }
  void stop() { server_.stop(); }
  bool running() const { return server_.is_running(); }

 private:
  bool setupContext(SSL_CTX& ctx);
  void serve(std::string_view route, const httplib::Request& request, httplib::Response& response,
             const httplib::ContentReader& reader);
  BodyRead readBody(const httplib::Request& request, const httplib::ContentReader& reader) const;
  AdmissionReply decideSafely(std::string_view route, std::string_view content_type,
                              std::string_view body);
  void record(const AdmissionReply& reply, double seconds);

  const HttpsServerOptions options_;
  CertReloader& certs_;
  const AdmissionFunction decide_;
  ServerMetrics& metrics_;
  std::atomic<bool>& draining_;
  std::counting_semaphore<> decisions_;
  std::string context_error_;
  int listen_fd_ = -1;
  httplib::SSLServer server_;
};

bool HttpsServer::Impl::setupContext(SSL_CTX& ctx) {
  if (!configureServerTls(ctx, certs_, "peergate-webhook", context_error_)) return false;
  if (!options_.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, options_.client_ca_file.c_str(), nullptr) != 1) {
      context_error_ = opensslError("cannot load the client CA file " + options_.client_ca_file);
      return false;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return true;
}

bool HttpsServer::Impl::setup(std::string& error, int& bound_port) {
  if (!server_.is_valid()) {
    error = context_error_.empty() ? "cannot create the TLS context" : context_error_;
    return false;
  }
  // cpp-httplib writes with plain write(2)/SSL_write: a peer that went away must not kill the
  // process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);

  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  using std::chrono::seconds;
  const auto split = [](std::chrono::milliseconds timeout) {
    const auto whole = duration_cast<seconds>(timeout);
    return std::pair<time_t, time_t>{
        static_cast<time_t>(whole.count()),
        static_cast<time_t>(duration_cast<microseconds>(timeout - whole).count())};
  };
  const auto [read_sec, read_usec] = split(options_.read_timeout);
  const auto [write_sec, write_usec] = split(options_.write_timeout);
  server_.set_read_timeout(read_sec, read_usec);
  server_.set_write_timeout(write_sec, write_usec);
  server_.set_keep_alive_timeout(options_.keep_alive_timeout_seconds);
  server_.set_keep_alive_max_count(
      static_cast<std::size_t>(std::max(options_.keep_alive_max_requests, 1)));
  server_.set_tcp_nodelay(true);
  server_.set_socket_options([this](int fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    listen_fd_ = fd;
  });
  server_.new_task_queue = [this] {
    return new BoundedWorkerPool(static_cast<std::size_t>(options_.worker_threads),
                                 static_cast<std::size_t>(options_.max_queued_connections),
                                 &metrics_);
  };
  for (const std::string_view route : kRoutes) {
    server_.Post(std::string(route),
                 [this, route](const httplib::Request& request, httplib::Response& response,
                               const httplib::ContentReader& reader) {
                   serve(route, request, response, reader);
                 });
  }
  server_.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message;
        if (response.status == 404) {
          message = "no route for " + request.method + " " + request.path +
                    " (POST /validate, /mutate or /inject)";
          metrics_.admission_errors.inc({std::string(toString(AdmissionError::UnknownRoute))});
        } else {
          message = "HTTP " + std::to_string(response.status);
        }
        response.set_content(nlohmann::json({{"error", message}}).dump(), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));

  // Runs after a reply is written. A reply that says `Connection: close` (a drain, an unread
  // body) ends cpp-httplib's keep-alive loop: it only honours the request's header, so without
  // this it would parse the rest of an abandoned body as the next request. Shutting the read side
  // any earlier would make cpp-httplib refuse to write the reply (it checks the peer is alive).
  server_.set_logger([](const httplib::Request& request, const httplib::Response& response) {
    if (request.ssl != nullptr && response.get_header_value("Connection") == "close") {
      ::shutdown(SSL_get_fd(request.ssl), SHUT_RD);
    }
  });

  if (options_.port == 0) {
    bound_port = server_.bind_to_any_port(options_.bind_address);
    if (bound_port <= 0) {
      error = "cannot bind " + options_.bind_address + " on an ephemeral port";
      return false;
    }
  } else {
    if (!server_.bind_to_port(options_.bind_address, options_.port)) {
      error = "cannot bind " + options_.bind_address + ":" + std::to_string(options_.port) +
              " (in use, or a privileged port)";
      return false;
    }
    bound_port = options_.port;
  }
  // cpp-httplib listens with a backlog of 5; a burst of new connections needs more.
  if (listen_fd_ >= 0) ::listen(listen_fd_, std::max(options_.listen_backlog, 5));
  return true;
}

BodyRead HttpsServer::Impl::readBody(const httplib::Request& request,
                                     const httplib::ContentReader& reader) const {
  BodyRead read;
  const std::size_t limit = options_.max_body_bytes;
  const std::size_t discard_limit = limit * kDiscardFactor;
  if (request.has_header("Content-Length")) {
    read.declared = static_cast<std::size_t>(
        std::strtoull(request.get_header_value("Content-Length").c_str(), nullptr, 10));
    if (read.declared <= limit) read.body.reserve(read.declared);
  }
  const bool known_too_large = read.declared > limit;
  const bool hopeless = read.declared > discard_limit;  // not worth reading past the prefix
  read.complete = reader([&](const char* data, std::size_t length) {
    read.received += length;
    if (!read.too_large) {
      if (read.received <= limit && !(known_too_large && read.received > kUidPrefixBytes)) {
        read.body.append(data, length);
        return true;
      }
      read.too_large = true;
      const std::size_t room =
          kUidPrefixBytes > read.body.size() ? kUidPrefixBytes - read.body.size() : 0;
      read.body.append(data, std::min(room, length));
      read.body.resize(std::min(read.body.size(), kUidPrefixBytes));
      read.body.shrink_to_fit();
    }
    return !hopeless && read.received <= discard_limit;
  });
  if (read.declared > limit) read.too_large = true;
  return read;
}

AdmissionReply HttpsServer::Impl::decideSafely(std::string_view route,
                                               std::string_view content_type,
                                               std::string_view body) {
  std::string failure;
  try {
    decisions_.acquire();
    const SlotRelease release{decisions_};
    return decide_(route, content_type, body);
  } catch (const std::exception& error) {
    failure = error.what();
  } catch (...) {
    failure = "unknown exception";
  }
  const ReviewIdentity identity = identityOf(body);
  AdmissionReply reply;
  reply.http_status = 200;
  reply.body = errorReview(identity, 500, "internal error in the peergate webhook: " + failure);
  reply.outcome.webhook = webhookName(route);
  reply.outcome.uid = identity.uid;
  reply.outcome.error = AdmissionError::Internal;
  reply.outcome.message = "internal error: " + failure;
  return reply;
}

void HttpsServer::Impl::serve(std::string_view route, const httplib::Request& request,
                              httplib::Response& response, const httplib::ContentReader& reader) {
  const Clock::time_point started = Clock::now();
  BodyRead read = readBody(request, reader);
  AdmissionReply reply;
  bool close_connection = draining_.load(std::memory_order_relaxed);
  if (read.too_large) {
    const ReviewIdentity identity = identityOf(read.body);
    const std::string message = "request body of " +
                                humanBytes(std::max(read.received, read.declared)) +
                                " exceeds the webhook's limit of " +
                                humanBytes(options_.max_body_bytes) + " (--max-body-bytes)";
    reply.body = errorReview(identity, 413, message);
    reply.outcome.webhook = webhookName(route);
    reply.outcome.uid = identity.uid;
    reply.outcome.error = AdmissionError::BodyTooLarge;
    reply.outcome.message = message;
    close_connection = close_connection || !read.complete;
  } else if (!read.complete) {
    // The client stopped sending (timeout, reset) or sent a broken chunked body.
    const ReviewIdentity identity = identityOf(read.body);
    reply.body = errorReview(identity, 400, "incomplete request body");
    reply.outcome.webhook = webhookName(route);
    reply.outcome.uid = identity.uid;
    reply.outcome.error = AdmissionError::BodyRead;
    reply.outcome.message = "incomplete request body";
    close_connection = true;
  } else {
    reply = decideSafely(route, request.get_header_value("Content-Type"), read.body);
    if (reply.outcome.webhook.empty()) reply.outcome.webhook = webhookName(route);
  }
  response.status = reply.http_status;
  response.set_content(std::move(reply.body), "application/json");
  // The logger hook below ends the connection once this reply is written.
  if (close_connection) response.set_header("Connection", "close");
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  record(reply, seconds);
}

void HttpsServer::Impl::record(const AdmissionReply& reply, double seconds) {
  const AdmissionOutcome& outcome = reply.outcome;
  metrics_.admission_requests.inc(
      {outcome.webhook, outcome.kind, outcome.operation, outcome.allowed ? "true" : "false"});
  metrics_.admission_duration.observe({outcome.webhook}, seconds);
  if (outcome.errored()) metrics_.admission_errors.inc({std::string(toString(outcome.error))});
  for (const AppliedFinding& finding : outcome.findings) {
    metrics_.findings.inc({finding.code, finding.action});
  }
  if (!outcome.injection.empty()) metrics_.injections.inc(injectionLabels(outcome));
  logDecision(outcome, seconds * 1000.0);
}

HttpsServer::HttpsServer(HttpsServerOptions options, CertReloader& certs, AdmissionFunction decide,
                         ServerMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), certs, std::move(decide), metrics,
                                   draining_)) {}

HttpsServer::~HttpsServer() { shutdown(); }

bool HttpsServer::start(std::string& error) {
  int bound_port = 0;
  if (!impl_->setup(error, bound_port)) return false;
  port_ = bound_port;
  listener_ = std::thread([this] { impl_->listen(); });
  // stop() only works once the accept loop runs: wait for it (microseconds in practice).
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
  while (!impl_->running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

bool HttpsServer::running() const { return impl_->running(); }

void HttpsServer::beginDrain() { draining_.store(true); }

void HttpsServer::shutdown() {
  draining_.store(true);
  if (!listener_.joinable()) return;
  impl_->stop();
  listener_.join();
}

}  // namespace peergate::webhook
