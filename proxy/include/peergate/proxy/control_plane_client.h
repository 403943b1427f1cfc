#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "peergate/proxy/config_source.h"
#include "peergate/proxy/options.h"
#include "peergate/proxy/proxy_stats.h"

namespace httplib {
class SSLClient;
}

namespace peergate::proxy {

// The control-plane mode: the policy from the webhook's feed (long-poll, versioned) and the
// identity from its CA. The key is generated here and never leaves the process; the certificate
// is renewed at half its remaining life, and at once when the feed brings a new trust bundle (a
// CA rotation). While the control plane is unreachable the proxy keeps serving with what it has
// and retries with backoff.
class ControlPlaneClient final : public ConfigSource {
 public:
  ControlPlaneClient(const ProxyOptions& options, ProxyStats& stats);
  ~ControlPlaneClient() override;
  ControlPlaneClient(const ControlPlaneClient&) = delete;
  ControlPlaneClient& operator=(const ControlPlaneClient&) = delete;

  // Retries until the first policy and certificate arrive or the startup timeout passes.
  bool loadInitial(std::string& error) override;
  void startWatching() override;
  void stop() override;

  std::shared_ptr<const ProxyPolicy> policy() const override;
  std::shared_ptr<const TlsContexts> tls() const override;

  // Certificates obtained so far (the first one included).
  int certificatesIssued() const;

 private:
  struct Fetched;
  struct Identity;

  std::optional<std::string> fetchPolicy(int wait_seconds, Fetched& fetched);
  std::optional<std::string> fetchCertificate(const ProxyPolicy& policy, Identity& identity);
  bool applyPolicy(Fetched fetched);
  bool renewCertificate(std::string& error);
  void feedLoop();
  void rotationLoop();
  // Sleeps up to `duration` unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds duration);

  const ProxyOptions options_;
  ProxyStats& stats_;

  mutable std::mutex mutex_;
  std::shared_ptr<const ProxyPolicy> policy_;
  std::shared_ptr<const TlsContexts> tls_;
  std::string version_;
  std::string roots_;
  std::chrono::system_clock::time_point renew_at_;
  bool renew_now_ = false;
  int issued_ = 0;

  std::mutex clients_mutex_;
  std::vector<std::shared_ptr<httplib::SSLClient>> clients_;  // in flight, for stop()

  std::mutex wait_mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stopping_{false};
  std::thread feed_thread_;
  std::thread rotation_thread_;
};

}  // namespace peergate::proxy
