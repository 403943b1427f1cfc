#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <openssl/ssl.h>

#include "peergate/webhook/metrics.h"

namespace peergate::webhook {

struct CertReloaderOptions {
  std::string cert_file;  // PEM: the leaf first, then any intermediates
  std::string key_file;   // PEM private key matching the leaf
  std::chrono::milliseconds poll_interval{2000};
  std::chrono::hours expiry_warning{24 * 7};  // warn in the log this long before notAfter
};

// What is known about the certificate being served.
struct ServingCertInfo {
  std::string serial_hex;  // upper-case hex, as `openssl x509 -serial` prints it
  std::string subject;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
};

enum class CertReloadResult { Unchanged, Reloaded, Failed };

// The serving certificate and key, read from files and re-read when their content changes
// (cert-manager and Secret volumes replace them in place or by symlink swap). The TLS context
// does not own a certificate: a certificate callback attached to it picks the current pair for
// every handshake, so the next connection uses a renewed certificate while established ones
// keep theirs, and the listener never restarts. A changed pair that does not load (half-written
// files, key not matching the certificate) is logged and counted; the previous pair stays.
class CertReloader {
 public:
  CertReloader(CertReloaderOptions options, ServerMetrics& metrics);
  ~CertReloader();
  CertReloader(const CertReloader&) = delete;
  CertReloader& operator=(const CertReloader&) = delete;

  // The first load; false with `error` set when the files cannot be used (a startup error).
  bool loadInitial(std::string& error);
  // Reads the files now and swaps in a changed, valid pair.
  CertReloadResult reloadNow();

  // Polls the files every poll_interval on a background thread until stop().
  void startWatching();
  void stop();

  // Installs the certificate callback on `ctx`; this reloader must outlive the context's use.
  void attachTo(SSL_CTX* ctx);

  bool loaded() const;
  std::optional<ServingCertInfo> current() const;
  // True when a certificate is loaded and `now` is past its notAfter.
  bool expired(std::chrono::system_clock::time_point now) const;

 private:
  struct Material;

  static int certCallback(SSL* ssl, void* arg);
  std::shared_ptr<const Material> material() const;
  void warnIfExpiring(const ServingCertInfo& info, bool force);
  void watchLoop();

  const CertReloaderOptions options_;
  ServerMetrics& metrics_;

  mutable std::mutex mutex_;
  std::shared_ptr<const Material> material_;
  std::string last_failed_;  // content of the last pair that failed, to log each failure once
  std::chrono::steady_clock::time_point last_expiry_warning_{};

  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace peergate::webhook
