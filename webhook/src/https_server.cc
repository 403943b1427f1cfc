#include "peergate/webhook/https_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <asio/buffer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "http_request.h"
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
// Plaintext read per SSL_read: a TLS record's worth.
constexpr std::size_t kReadChunk = 16 * 1024;
// A body buffer that grew beyond this is released after its request instead of reused.
constexpr std::size_t kKeptBodyCapacity = 256 * 1024;

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

// Holds one of --max-concurrent-decisions slots; without a limit it takes none, so a decision
// costs no futex call (libstdc++'s semaphore wakes on every release).
class DecisionSlot {
 public:
  explicit DecisionSlot(std::counting_semaphore<>* slots) : slots_(slots) {
    if (slots_ != nullptr) slots_->acquire();
  }
  ~DecisionSlot() {
    if (slots_ != nullptr) slots_->release();
  }
  DecisionSlot(const DecisionSlot&) = delete;
  DecisionSlot& operator=(const DecisionSlot&) = delete;

 private:
  std::counting_semaphore<>* slots_;
};

bool isRoute(std::string_view path) {
  return std::find(kRoutes.begin(), kRoutes.end(), path) != kRoutes.end();
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    default:
      return "Internal Server Error";
  }
}

// {"error": message}; bytes of the request quoted in `message` may not be UTF-8.
std::string errorJson(const std::string& message) {
  return nlohmann::json({{"error", message}})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Once the reply that ends a connection is written, what the client may still be sending is
// read and dropped for up to this long, so that closing does not reset the connection (and
// lose the reply) while the client's data is unread.
constexpr std::chrono::milliseconds kLingerTime{2000};
constexpr std::size_t kLingerChunk = 16 * 1024;

bool isWait(int ssl_error) {
  return ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE;
}

// A request body up to the limit; beyond it only its start (for the uid) and a count of what was
// read and dropped.
class BodyCollector {
 public:
  void reset(std::size_t limit, std::optional<std::uint64_t> declared) {
    if (body_.capacity() > kKeptBodyCapacity) std::string().swap(body_);
    body_.clear();
    limit_ = limit;
    received_ = 0;
    declared_ = declared.value_or(0);
    too_large_ = false;
    known_too_large_ = declared_ > limit_;
    hopeless_ = declared_ > limit_ * kDiscardFactor;
    if (!known_too_large_ && declared_ > body_.capacity()) {
      body_.reserve(
          static_cast<std::size_t>(std::min<std::uint64_t>(declared_, kKeptBodyCapacity)));
    }
  }

  void append(std::string_view data) {
    received_ += data.size();
    if (too_large_) return;
    if (received_ <= limit_ && !(known_too_large_ && received_ > kUidPrefixBytes)) {
      body_.append(data);
      return;
    }
    too_large_ = true;
    const std::size_t room = kUidPrefixBytes > body_.size() ? kUidPrefixBytes - body_.size() : 0;
    body_.append(data.substr(0, std::min(room, data.size())));
    body_.resize(std::min(body_.size(), kUidPrefixBytes));
  }

  // Reading on is not worth it: answer now and close. A declared length beyond the discard
  // limit stops once the uid prefix is in; otherwise reading stops past the discard limit.
  bool stopReading() const {
    if (hopeless_) return received_ >= std::min<std::uint64_t>(declared_, kUidPrefixBytes);
    return received_ > limit_ * kDiscardFactor;
  }
  bool tooLarge() const { return too_large_ || known_too_large_; }
  const std::string& body() const { return body_; }
  std::uint64_t received() const { return received_; }
  std::uint64_t declared() const { return declared_; }

 private:
  std::string body_;
  std::size_t limit_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t declared_ = 0;
  bool too_large_ = false;
  bool known_too_large_ = false;
  bool hopeless_ = false;
};

class Connection;

// One event loop: an io_context run by one thread, and the connections assigned to it.
struct Loop {
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{context.get_executor()};
  std::unordered_set<Connection*> connections;  // touched on this loop's thread only
  // Read buffers of connections between requests, kept for the next request on this loop so
  // that freeing an idle connection's buffer costs no allocation per request under load.
  std::vector<std::vector<char>> spare_buffers;  // this loop's thread only
  std::thread thread;
};

constexpr std::size_t kSpareBuffersPerLoop = 64;

// What the server offers its connections; the listener, the loops and the TLS context.
class ServerCore {
 public:
  ServerCore(HttpsServerOptions options, CertReloader& certs, AdmissionFunction decide,
             ServerMetrics& metrics, std::atomic<bool>& draining)
      : options_(std::move(options)),
        certs_(certs),
        decide_(std::move(decide)),
        metrics_(metrics),
        draining_(draining) {
    if (options_.max_concurrent_decisions > 0)
      decisions_.emplace(options_.max_concurrent_decisions);
  }
  ~ServerCore() {
    shutdown();
    acceptor_.reset();
    retry_timer_.reset();
    loops_.clear();
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  bool start(std::string& error, int& bound_port);
  int loopThreads() const { return static_cast<int>(loops_.size()); }
  void shutdown();
  bool running() const { return running_.load(); }

  const HttpsServerOptions& options() const { return options_; }
  SSL_CTX* context() const { return ctx_; }
  ServerMetrics& metrics() { return metrics_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  AdmissionReply decideSafely(std::string_view route, std::string_view content_type,
                              std::string_view body);
  void record(const AdmissionReply& reply, double seconds);
  // A connection closed (any loop thread): make room for the next one.
  void connectionClosed();

 private:
  bool setupContext(std::string& error);
  bool listen(std::string& error);
  void accept();
  void resumeAccept();

  const HttpsServerOptions options_;
  CertReloader& certs_;
  const AdmissionFunction decide_;
  ServerMetrics& metrics_;
  std::atomic<bool>& draining_;
  std::optional<std::counting_semaphore<>> decisions_;  // set by --max-concurrent-decisions
  SSL_CTX* ctx_ = nullptr;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::optional<asio::ip::tcp::acceptor> acceptor_;  // on loops_[0]
  std::optional<asio::steady_timer> retry_timer_;    // accept back-off, on loops_[0]
  std::size_t next_loop_ = 0;                        // loops_[0]'s thread only
  std::size_t max_connections_ = 1;
  std::atomic<std::size_t> open_{0};
  std::atomic<bool> accept_paused_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> running_{false};
  std::mutex shutdown_mutex_;
  bool started_ = false;
  bool stopped_ = false;
};

// One accepted connection, driven on its loop's thread only: TLS in reactor style (OpenSSL does
// the non-blocking I/O; SSL_ERROR_WANT_READ/WRITE becomes an asio readiness wait), then requests
// one after another, pipelined bytes included. Decisions run inline.
class Connection final : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore& server, Loop& loop, asio::ip::tcp::socket socket)
      : server_(server), loop_(loop), socket_(std::move(socket)), timer_(loop.context) {}
  ~Connection() {
    if (ssl_ != nullptr) SSL_free(ssl_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  using Step = void (Connection::*)();

  void start();
  // Runs a step of this connection; an exception (out of memory) closes it.
  void guarded(Step step);
  // The server stops: close now unless a request is under way (it finishes first).
  void drain() {
    if (phase_ == Phase::Handshake || phase_ == Phase::Linger || (phase_ == Phase::Head && idle_)) {
      close();
    }
  }

 private:
  enum class Phase { Handshake, Head, Body, Write, Linger, Closed };
  enum class AfterWrite { NextRequest, ContinueBody, Close };
  enum class Io { Done, Wait, Failed };

  void handshake();
  void advance();
  bool stepHead();
  bool stepBody();
  // Reads what TLS has, or arranges `advance` once the socket is readable (deadline `timeout`).
  Io readNow(std::chrono::milliseconds timeout);
  void releaseBuffer();
  bool finishRequest(bool body_complete);
  bool rejectHead(int status, const std::string& message);
  void prepareReply(int status, std::string_view body, bool close);
  // Writes out_ (one SSL_write); true when the caller should go on parsing.
  bool send(AfterWrite after);
  Io writeNow();
  void onWritable();
  bool afterWrite();
  void waitSocket(int ssl_error, Step next);
  void setDeadline(std::chrono::milliseconds after);
  void onTimer(const std::error_code& ec);
  void onTimeout();
  void setBusy(bool busy);
  // Ends the connection after its last reply: at once when every byte the client sent was
  // read, else after a lingering read (kLingerTime).
  void finish();
  void linger();
  void discard();
  void close();
  std::string_view buffered() const { return {buffer_.data() + begin_, end_ - begin_}; }

  ServerCore& server_;
  Loop& loop_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  SSL* ssl_ = nullptr;
  Phase phase_ = Phase::Handshake;
  AfterWrite after_write_ = AfterWrite::NextRequest;
  bool idle_ = false;           // waiting for the next request with nothing buffered
  bool busy_ = false;           // counted in busy_workers (else in queued_connections)
  bool tls_failed_ = false;     // no close_notify after a fatal TLS error
  bool input_consumed_ = true;  // the last request was read whole (no unread body or head)
  bool close_notify_sent_ = false;
  std::uint64_t wait_token_ = 0;
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point timer_expiry_ = Clock::time_point::max();
  bool timer_armed_ = false;

  std::vector<char> buffer_;  // plaintext received: [begin_, end_) not yet parsed
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t scan_from_ = 0;  // of the head's blank-line search
  int requests_ = 0;
  HttpRequestHead head_;
  BodyDecoder decoder_;
  BodyCollector collector_;
  Clock::time_point started_;
  std::string out_;
};

void Connection::start() {
  loop_.connections.insert(this);
  server_.metrics().queued_connections.add({}, 1);
  std::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  socket_.non_blocking(true, ignored);
  ssl_ = SSL_new(server_.context());
  if (ssl_ == nullptr || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1 ||
      server_.stopping()) {
    ERR_clear_error();
    tls_failed_ = true;
    close();
    return;
  }
  SSL_set_accept_state(ssl_);
  handshake();
}

void Connection::handshake() {
  ERR_clear_error();
  const int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    phase_ = Phase::Head;
    advance();
    return;
  }
  const int error = SSL_get_error(ssl_, result);
  if (isWait(error)) {
    setDeadline(server_.options().read_timeout);
    waitSocket(error, &Connection::handshake);
    return;
  }
  // A client that does not speak our TLS (version, suites, certificate): nothing to answer.
  ERR_clear_error();
  tls_failed_ = true;
  close();
}

void Connection::waitSocket(int ssl_error, Step next) {
  const auto type = ssl_error == SSL_ERROR_WANT_WRITE ? asio::socket_base::wait_write
                                                      : asio::socket_base::wait_read;
  const std::uint64_t token = ++wait_token_;
  socket_.async_wait(type, [self = shared_from_this(), token, next](const std::error_code& ec) {
    if (self->phase_ == Phase::Closed || token != self->wait_token_) return;
    if (ec) {
      self->close();
      return;
    }
    self->guarded(next);
  });
}

void Connection::setDeadline(std::chrono::milliseconds after) {
  deadline_ = Clock::now() + after;
  if (timer_armed_ && timer_expiry_ <= deadline_) return;  // fires first, then re-arms
  timer_armed_ = true;
  timer_expiry_ = deadline_;
  timer_.expires_at(deadline_);
  timer_.async_wait([self = shared_from_this()](const std::error_code& ec) { self->onTimer(ec); });
}

void Connection::onTimer(const std::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;  // re-armed earlier, or closed
  timer_armed_ = false;
  if (phase_ == Phase::Closed) return;
  if (Clock::now() < deadline_) {
    timer_armed_ = true;
    timer_expiry_ = deadline_;
    timer_.expires_at(deadline_);
    timer_.async_wait(
        [self = shared_from_this()](const std::error_code& next) { self->onTimer(next); });
    return;
  }
  guarded(&Connection::onTimeout);
}

void Connection::guarded(Step step) {
  try {
    (this->*step)();
  } catch (const std::exception& failure) {
    logEvent(spdlog::level::err, "HTTPS connection error", {{"error", failure.what()}});
    close();
  }
}

// The deadline of the pending wait passed: a client too slow to send (handshake, head, body) or
// to read, or a keep-alive connection idle too long.
void Connection::onTimeout() {
  if (phase_ != Phase::Body) {
    close();
    return;
  }
  ++wait_token_;  // the read wait is abandoned
  std::error_code ignored;
  socket_.cancel(ignored);
  if (finishRequest(false)) advance();
}

void Connection::advance() {
  idle_ = false;
  while (phase_ == Phase::Head || phase_ == Phase::Body) {
    const bool go_on = phase_ == Phase::Head ? stepHead() : stepBody();
    if (!go_on) return;
  }
}

// An idle connection holds no read buffer: it goes back to the loop (a few are kept; one grown
// by a large request is freed).
void Connection::releaseBuffer() {
  if (buffer_.size() == kReadChunk && loop_.spare_buffers.size() < kSpareBuffersPerLoop) {
    loop_.spare_buffers.push_back(std::move(buffer_));
  }
  std::vector<char>().swap(buffer_);
}

Connection::Io Connection::readNow(std::chrono::milliseconds timeout) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (begin_ > 0) {
    std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(begin_),
              buffer_.begin() + static_cast<std::ptrdiff_t>(end_), buffer_.begin());
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.empty() && !loop_.spare_buffers.empty()) {
    buffer_ = std::move(loop_.spare_buffers.back());
    loop_.spare_buffers.pop_back();
  }
  if (buffer_.size() - end_ < kReadChunk / 4) {
    buffer_.resize(std::max(buffer_.size() * 2, kReadChunk));
  }
  ERR_clear_error();
  std::size_t got = 0;
  if (SSL_read_ex(ssl_, buffer_.data() + end_, buffer_.size() - end_, &got) == 1) {
    end_ += got;
    return Io::Done;
  }
  const int error = SSL_get_error(ssl_, 0);
  if (isWait(error)) {
    if (end_ == 0) {
      // Nothing buffered (a keep-alive connection between requests, typically): an idle
      // connection holds no read buffer, ours or OpenSSL's.
      releaseBuffer();
      SSL_free_buffers(ssl_);
    }
    setDeadline(timeout);
    waitSocket(error, &Connection::advance);
    return Io::Wait;
  }
  if (error != SSL_ERROR_ZERO_RETURN) tls_failed_ = true;
  ERR_clear_error();
  return Io::Failed;
}

bool Connection::stepHead() {
  // Blank lines before a request line are ignored (RFC 9112 2.2).
  while (end_ - begin_ >= 2 && buffer_[begin_] == '\r' && buffer_[begin_ + 1] == '\n') {
    begin_ += 2;
  }
  const HttpsServerOptions& options = server_.options();
  if (begin_ == end_) {
    if (server_.stopping()) {
      close();
      return false;
    }
    const Io io = readNow(requests_ > 0 ? std::chrono::milliseconds(std::chrono::seconds(
                                              options.keep_alive_timeout_seconds))
                                        : options.read_timeout);
    if (io == Io::Wait) idle_ = true;
    if (io == Io::Failed) close();
    return io == Io::Done;
  }
  const HeadParse parse = parseRequestHead(buffered(), options.max_header_bytes, head_, scan_from_);
  switch (parse.status) {
    case HeadStatus::Incomplete: {
      const Io io = readNow(options.read_timeout);
      if (io == Io::Failed) close();
      return io == Io::Done;
    }
    case HeadStatus::TooLarge:
      return rejectHead(431, parse.error);
    case HeadStatus::Malformed:
      return rejectHead(400, parse.error);
    case HeadStatus::Unsupported:
      return rejectHead(501, parse.error);
    case HeadStatus::Complete:
      break;
  }
  begin_ += parse.length;
  scan_from_ = 0;
  ++requests_;
  started_ = Clock::now();
  decoder_ =
      head_.chunked ? BodyDecoder::chunked() : BodyDecoder::fixed(head_.content_length.value_or(0));
  collector_.reset(options.max_body_bytes, head_.content_length);
  phase_ = Phase::Body;
  if (head_.expect_continue && head_.hasBody() && begin_ == end_) {
    out_.assign("HTTP/1.1 100 Continue\r\n\r\n");
    return send(AfterWrite::ContinueBody);
  }
  return true;
}

bool Connection::stepBody() {
  if (begin_ < end_) {
    begin_ += decoder_.feed(buffered(), [this](std::string_view data) { collector_.append(data); });
  }
  if (decoder_.done()) return finishRequest(true);
  if (decoder_.failed() || collector_.stopReading()) return finishRequest(false);
  const Io io = readNow(server_.options().read_timeout);
  if (io == Io::Failed) return finishRequest(false);  // the client stopped sending
  return io == Io::Done;
}

// Answers the request whose head is in head_: a decision, a 413 or 400 review, or a 404.
bool Connection::finishRequest(bool body_complete) {
  setBusy(true);
  input_consumed_ = body_complete;
  const HttpsServerOptions& options = server_.options();
  bool close_connection = !body_complete || !head_.keep_alive || server_.draining() ||
                          server_.stopping() ||
                          requests_ >= std::max(options.keep_alive_max_requests, 1);
  const std::string_view path = head_.path();
  if (head_.method != "POST" || !isRoute(path)) {
    const std::string message = "no route for " + head_.method + " " + std::string(path) +
                                " (POST /validate, /mutate or /inject)";
    server_.metrics().admission_errors.inc({std::string(toString(AdmissionError::UnknownRoute))});
    prepareReply(404, errorJson(message), close_connection);
    return send(close_connection ? AfterWrite::Close : AfterWrite::NextRequest);
  }
  AdmissionReply reply;
  const std::string& body = collector_.body();
  if (collector_.tooLarge()) {
    const ReviewIdentity identity = identityOf(body);
    const std::string message = "request body of " +
                                humanBytes(static_cast<std::size_t>(
                                    std::max(collector_.received(), collector_.declared()))) +
                                " exceeds the webhook's limit of " +
                                humanBytes(options.max_body_bytes) + " (--max-body-bytes)";
    reply.body = errorReview(identity, 413, message);
    reply.outcome.webhook = webhookName(path);
    reply.outcome.uid = identity.uid;
    reply.outcome.error = AdmissionError::BodyTooLarge;
    reply.outcome.message = message;
  } else if (!body_complete) {
    // The client stopped sending (timeout, reset) or sent a broken chunked body.
    const ReviewIdentity identity = identityOf(body);
    const std::string message = decoder_.failed()
                                    ? "incomplete request body (" + decoder_.error() + ")"
                                    : std::string("incomplete request body");
    reply.body = errorReview(identity, 400, message);
    reply.outcome.webhook = webhookName(path);
    reply.outcome.uid = identity.uid;
    reply.outcome.error = AdmissionError::BodyRead;
    reply.outcome.message = message;
  } else {
    reply = server_.decideSafely(path, head_.content_type, body);
    if (reply.outcome.webhook.empty()) reply.outcome.webhook = webhookName(path);
  }
  prepareReply(reply.http_status, reply.body, close_connection);
  server_.record(reply, std::chrono::duration<double>(Clock::now() - started_).count());
  return send(close_connection ? AfterWrite::Close : AfterWrite::NextRequest);
}

// A request that cannot be read as HTTP: a plain JSON error, then close.
bool Connection::rejectHead(int status, const std::string& message) {
  setBusy(true);
  input_consumed_ = false;
  server_.metrics().admission_errors.inc({std::string(toString(AdmissionError::BadRequest))});
  head_.method.clear();  // not a HEAD request: the reply carries its body
  prepareReply(status, errorJson(message), true);
  return send(AfterWrite::Close);
}

void Connection::prepareReply(int status, std::string_view body, bool close_connection) {
  out_.clear();
  out_.reserve(body.size() + 128);
  out_.append("HTTP/1.1 ");
  out_.append(std::to_string(status));
  out_.push_back(' ');
  out_.append(reasonPhrase(status));
  out_.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  out_.append(std::to_string(body.size()));
  if (close_connection) {
    out_.append("\r\nConnection: close");
  } else if (head_.minor_version == 0) {
    out_.append("\r\nConnection: keep-alive");
  }
  out_.append("\r\n\r\n");
  if (head_.method != "HEAD") out_.append(body);
}

bool Connection::send(AfterWrite after) {
  after_write_ = after;
  phase_ = Phase::Write;
  switch (writeNow()) {
    case Io::Done:
      return afterWrite();
    case Io::Wait:
      return false;
    case Io::Failed:
      close();
      return false;
  }
  return false;
}

// One SSL_write for the whole reply: one TLS record up to 16 KiB. Without partial writes,
// OpenSSL either takes it all or asks to be called again with the same buffer.
Connection::Io Connection::writeNow() {
  ERR_clear_error();
  std::size_t written = 0;
  if (SSL_write_ex(ssl_, out_.data(), out_.size(), &written) == 1) return Io::Done;
  const int error = SSL_get_error(ssl_, 0);
  if (isWait(error)) {
    setDeadline(server_.options().write_timeout);
    waitSocket(error, &Connection::onWritable);
    return Io::Wait;
  }
  ERR_clear_error();
  tls_failed_ = true;
  return Io::Failed;
}

void Connection::onWritable() {
  switch (writeNow()) {
    case Io::Done:
      if (afterWrite()) advance();
      return;
    case Io::Wait:
      return;
    case Io::Failed:
      close();
      return;
  }
}

bool Connection::afterWrite() {
  if (after_write_ == AfterWrite::ContinueBody) {
    phase_ = Phase::Body;
    return true;
  }
  setBusy(false);
  if (after_write_ == AfterWrite::Close) {
    finish();
    return false;
  }
  phase_ = Phase::Head;
  return true;
}

void Connection::setBusy(bool busy) {
  if (busy == busy_) return;
  busy_ = busy;
  ServerMetrics& metrics = server_.metrics();
  metrics.busy_workers.add({}, busy ? 1 : -1);
  metrics.queued_connections.add({}, busy ? -1 : 1);
}

void Connection::finish() {
  if (input_consumed_ && begin_ == end_) {
    close();
  } else {
    linger();
  }
}

void Connection::linger() {
  phase_ = Phase::Linger;
  ++wait_token_;
  if (!tls_failed_ && SSL_is_init_finished(ssl_) == 1) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  close_notify_sent_ = true;
  std::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  setDeadline(kLingerTime);
  discard();
}

// Reads and drops what arrives (raw TCP: TLS is over) until the client closes or the linger
// time ends.
void Connection::discard() {
  std::array<char, kLingerChunk> scratch;
  for (int round = 0; round < 8; ++round) {
    std::error_code ec;
    socket_.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) {  // end of stream or reset: nothing more will be lost
      close();
      return;
    }
  }
  waitSocket(SSL_ERROR_WANT_READ, &Connection::discard);
}

void Connection::close() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Closed;
  ++wait_token_;
  std::error_code ignored;
  timer_.cancel();
  if (ssl_ != nullptr && !tls_failed_ && !close_notify_sent_ && SSL_is_init_finished(ssl_) == 1) {
    // close_notify, once and without waiting for the peer's.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  socket_.close(ignored);
  loop_.connections.erase(this);
  ServerMetrics& metrics = server_.metrics();
  (busy_ ? metrics.busy_workers : metrics.queued_connections).add({}, -1);
  busy_ = false;
  server_.connectionClosed();
}

bool ServerCore::setupContext(std::string& error) {
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (ctx_ == nullptr) {
    error = opensslError("cannot create the TLS context");
    return false;
  }
  if (!configureServerTls(*ctx_, certs_, "peergate-webhook", error)) return false;
  if (!options_.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, options_.client_ca_file.c_str(), nullptr) != 1) {
      error = opensslError("cannot load the client CA file " + options_.client_ca_file);
      return false;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options_.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx_, names);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  // Take what the socket has in one read instead of a record header, then its body.
  SSL_CTX_set_read_ahead(ctx_, 1);
  return true;
}

bool ServerCore::listen(std::string& error) {
  std::error_code ec;
  const std::string where = options_.port == 0
                                ? options_.bind_address + " on an ephemeral port"
                                : options_.bind_address + ":" + std::to_string(options_.port);
  asio::ip::address address = asio::ip::make_address(options_.bind_address, ec);
  if (ec) {
    asio::ip::tcp::resolver resolver(loops_[0]->context);
    const auto results =
        resolver.resolve(options_.bind_address, "", asio::ip::resolver_base::passive, ec);
    if (ec || results.empty()) {
      error = "cannot bind " + where + ": cannot resolve " + options_.bind_address;
      return false;
    }
    address = results.begin()->endpoint().address();
  }
  const asio::ip::tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
  acceptor_.emplace(loops_[0]->context);
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && address.is_v6() && address.is_unspecified()) {
    acceptor_->set_option(asio::ip::v6_only(false), ec);  // "::" serves IPv4 too
  }
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(std::max(options_.listen_backlog, 5), ec);
  if (ec) {
    error = "cannot bind " + where + (options_.port == 0 ? "" : " (in use, or a privileged port)") +
            ": " + ec.message();
    acceptor_.reset();
    return false;
  }
  return true;
}

bool ServerCore::start(std::string& error, int& bound_port) {
  if (started_) {
    error = "the HTTPS server was started already";
    return false;
  }
  loops_.clear();
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  ctx_ = nullptr;
  if (!setupContext(error)) return false;
  // OpenSSL writes to the socket itself: a peer that went away must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  const int threads =
      options_.worker_threads > 0
          ? options_.worker_threads
          : std::min(
                kMaxDefaultLoops,
                kLoopsPerCpu * std::max(1, static_cast<int>(std::thread::hardware_concurrency())));
  for (int i = 0; i < threads; ++i) loops_.push_back(std::make_unique<Loop>());
  max_connections_ = static_cast<std::size_t>(std::max(options_.max_connections, 1));
  if (!listen(error)) return false;
  std::error_code ec;
  bound_port = acceptor_->local_endpoint(ec).port();
  retry_timer_.emplace(loops_[0]->context);
  started_ = true;
  running_.store(true);
  accept();
  for (auto& loop : loops_) {
    loop->thread = std::thread([&context = loop->context] {
      for (;;) {
        try {
          context.run();
          return;
        } catch (const std::exception& failure) {
          logEvent(spdlog::level::err, "HTTPS event loop error", {{"error", failure.what()}});
        }
      }
    });
  }
  return true;
}

void ServerCore::accept() {
  Loop& target = *loops_[next_loop_];
  next_loop_ = (next_loop_ + 1) % loops_.size();
  acceptor_->async_accept(target.context, [this, &target](const std::error_code& ec,
                                                          asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping() || !acceptor_->is_open()) return;
    if (ec) {
      // Out of descriptors or memory: back off instead of spinning on the error.
      logEvent(spdlog::level::warn, "cannot accept an HTTPS connection", {{"error", ec.message()}});
      retry_timer_->expires_after(std::chrono::milliseconds(100));
      retry_timer_->async_wait([this](const std::error_code& wait) {
        if (!wait && !stopping()) accept();
      });
      return;
    }
    open_.fetch_add(1);
    asio::post(target.context, [this, &target, accepted = std::move(socket)]() mutable {
      const auto connection = std::make_shared<Connection>(*this, target, std::move(accepted));
      connection->guarded(&Connection::start);
    });
    if (open_.load() >= max_connections_) {
      // At the cap: the kernel's backlog holds new connections until one closes.
      accept_paused_.store(true);
      if (open_.load() < max_connections_ && accept_paused_.exchange(false)) accept();
      return;
    }
    accept();
  });
}

void ServerCore::resumeAccept() {
  if (stopping() || open_.load() >= max_connections_) return;
  if (accept_paused_.exchange(false)) accept();
}

void ServerCore::connectionClosed() {
  open_.fetch_sub(1);
  if (accept_paused_.load()) asio::post(loops_[0]->context, [this] { resumeAccept(); });
}

void ServerCore::shutdown() {
  std::lock_guard lock(shutdown_mutex_);
  if (!started_ || stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  // Close the listener first and wait for it: a connection accepted until then is already
  // posted to its loop, ahead of the drain below.
  std::promise<void> closed;
  asio::post(loops_[0]->context, [this, &closed] {
    std::error_code ignored;
    acceptor_->close(ignored);
    retry_timer_->cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& loop : loops_) {
    asio::post(loop->context, [&connections = loop->connections] {
      const std::vector<Connection*> open(connections.begin(), connections.end());
      for (Connection* connection : open) connection->drain();
    });
    loop->guard.reset();
  }
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  running_.store(false);
}

AdmissionReply ServerCore::decideSafely(std::string_view route, std::string_view content_type,
                                        std::string_view body) {
  std::string failure;
  try {
    const DecisionSlot slot(decisions_ ? &*decisions_ : nullptr);
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

void ServerCore::record(const AdmissionReply& reply, double seconds) {
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

}  // namespace

class HttpsServer::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

HttpsServer::HttpsServer(HttpsServerOptions options, CertReloader& certs, AdmissionFunction decide,
                         ServerMetrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), certs, std::move(decide), metrics,
                                   draining_)) {}

HttpsServer::~HttpsServer() { shutdown(); }

bool HttpsServer::start(std::string& error) {
  int bound_port = 0;
  if (!impl_->start(error, bound_port)) return false;
  port_ = bound_port;
  loop_threads_ = impl_->loopThreads();
  return true;
}

bool HttpsServer::running() const { return impl_->running(); }

void HttpsServer::beginDrain() { draining_.store(true); }

void HttpsServer::shutdown() {
  draining_.store(true);
  impl_->shutdown();
}

}  // namespace peergate::webhook
