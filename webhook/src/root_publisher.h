#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

class KubeClient;

struct RootPublisherOptions {
  std::string config_map = "peergate-ca-root";  // what injected pods mount
  std::string key = "root-cert.pem";            // the proxy's --control-plane-ca file
  std::chrono::milliseconds interval{5000};     // look for new namespaces / a new bundle
  std::chrono::minutes resync{30};              // re-publish everywhere (a deleted ConfigMap)
};

// Writes the mesh trust bundle into a ConfigMap in every namespace where pods may be injected
// (all but the Kubernetes system namespaces), as istiod does with istio-ca-root-cert: an
// injected proxy verifies the control plane with it before it has any certificate. Create, and
// on 409 an unconditional update; a namespace is done until the bundle changes or the resync.
class RootPublisher {
 public:
  RootPublisher(std::shared_ptr<KubeClient> client, const StateStore& store,
                std::function<std::string()> roots, MetricsRegistry& registry,
                RootPublisherOptions options = {});
  ~RootPublisher();
  RootPublisher(const RootPublisher&) = delete;
  RootPublisher& operator=(const RootPublisher&) = delete;

  void start();
  void stop();
  // One pass over the current snapshot's namespaces; the number still failing.
  int publishOnce();

 private:
  bool publish(const std::string& ns, const std::string& roots);
  void loop();

  std::shared_ptr<KubeClient> client_;
  const StateStore& store_;
  const std::function<std::string()> roots_;
  const RootPublisherOptions options_;
  Counter& published_;  // peergate_ca_root_publications_total{result}

  std::map<std::string, std::string> done_;  // namespace → bundle published there
  std::chrono::steady_clock::time_point last_resync_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace peergate::webhook
