#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "peergate/webhook/admission.h"
#include "peergate/webhook/cert_reloader.h"
#include "peergate/webhook/metrics.h"

namespace peergate::webhook {

// A loop that the kernel preempts holds its connections until it runs again. When the CPUs are
// shared (an API server or a load generator on the same node), more loops than CPUs bound what
// one preemption delays: with 2 CPUs shared with wrk, p99 at 8 connections fell from ~40 ms with
// one loop per CPU to ~3.5 ms with four per CPU (bench/README.md, 2026-11-23 23:40 entry).
inline constexpr int kLoopsPerCpu = 4;
// The CPU count is the node's, not the pod's CPU limit: a large node must not make a webhook pod
// start hundreds of threads.
inline constexpr int kMaxDefaultLoops = 64;

struct HttpsServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 15017;            // 0 binds an ephemeral port (see HttpsServer::port())
  std::string client_ca_file;  // when set, clients must present a certificate it signed
  // controller-runtime reads up to 7 MiB; an AdmissionReview carries object + oldObject.
  std::size_t max_body_bytes = std::size_t{7} << 20;
  // Event-loop threads (0: kLoopsPerCpu per CPU, at most kMaxDefaultLoops). Connections are spread
  // over them round-robin; each thread runs the TLS, the HTTP parsing and the decisions of its
  // connections.
  int worker_threads = 0;
  // Connections open at once; at the cap the server stops accepting (the kernel's listen
  // backlog holds new ones) until one closes.
  int max_connections = 1024;
  // Request line + header fields; a request with more gets 431 and the connection is closed.
  std::size_t max_header_bytes = 32 * 1024;
  // Admission decisions computed at once (CPU-bound); other requests wait for a slot. 0: no
  // limit beyond the event loops, each of which decides one request at a time.
  int max_concurrent_decisions = 0;
  std::chrono::milliseconds read_timeout{10000};  // per read: handshake, headers, body
  std::chrono::milliseconds write_timeout{10000};
  int keep_alive_timeout_seconds = 10;  // an idle connection is closed after this
  int keep_alive_max_requests = 1000;   // requests per connection before it is closed
  int listen_backlog = 1024;
};

// Decides one request; AdmissionHandler::handle in production, a stub in tests.
using AdmissionFunction = std::function<AdmissionReply(
    std::string_view route, std::string_view content_type, std::string_view body)>;

// The admission endpoint: POST /validate, /mutate and /inject over HTTPS (asio event loops,
// OpenSSL, an HTTP/1.1 parser of its own: keep-alive, pipelining, chunked bodies, Expect:
// 100-continue). TLS 1.2 or 1.3 only, ECDHE with AES-GCM or ChaCha20-Poly1305 for 1.2, the
// serving certificate chosen per handshake by the CertReloader, optional client-certificate
// check. Bodies above max_body_bytes get an AdmissionReview denial with code 413 (HTTP 200, the
// request's uid echoed when it can be read from the start of the body). Every reply is counted
// and logged (one decision line), and written with one TLS write.
class HttpsServer {
 public:
  HttpsServer(HttpsServerOptions options, CertReloader& certs, AdmissionFunction decide,
              ServerMetrics& metrics);
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  // Builds the TLS context, binds and starts accepting on a background thread. False with
  // `error` set when the context or the socket cannot be set up.
  bool start(std::string& error);
  // The bound port (the ephemeral one when options.port is 0); 0 before start().
  int port() const { return port_; }
  // Event-loop threads serving connections (options.worker_threads, or the CPUs); 0 before start().
  int loopThreads() const { return loop_threads_; }
  bool running() const;

  // First step of a drain: replies carry `Connection: close` from now on, so clients move off
  // their keep-alive connections while the server still answers.
  void beginDrain();
  // Graceful drain: stop accepting, let in-flight requests finish (replies then carry
  // `Connection: close`), close idle keep-alive connections at once, join every event-loop
  // thread. Idempotent; blocks until done.
  void shutdown();
  bool draining() const { return draining_.load(); }

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> draining_{false};
  int port_ = 0;
  int loop_threads_ = 0;
};

}  // namespace peergate::webhook
