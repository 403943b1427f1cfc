#pragma once

#include <memory>
#include <string>

#include "peergate/proxy/proxy_policy.h"
#include "peergate/proxy/tls_contexts.h"

namespace peergate::proxy {

// Where a proxy's policy and identity come from: files (ConfigWatcher, local mode) or the
// control plane (ControlPlaneClient). Connections take both snapshots once, when they start, so
// a swap reaches new connections only and never touches an open one.
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;

  // The first load; false with `error` set (a startup error).
  virtual bool loadInitial(std::string& error) = 0;
  // Background updates until stop(); stop() is idempotent.
  virtual void startWatching() = 0;
  virtual void stop() = 0;

  virtual std::shared_ptr<const ProxyPolicy> policy() const = 0;
  virtual std::shared_ptr<const TlsContexts> tls() const = 0;
};

}  // namespace peergate::proxy
