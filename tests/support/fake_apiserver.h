#pragma once

// A fake Kubernetes API server for tests: real HTTPS (httplib::SSLServer on 127.0.0.1, an
// ephemeral port) speaking the wire format of kubernetes-wire.md §4 and §7 — paged LISTs with
// metadata.resourceVersion and continue tokens (items of core lists without kind/apiVersion),
// chunked WATCH streams with events split mid-line across chunks, BOOKMARKs, 410 Expired as an
// ERROR event or as an HTTP status, dropped connections, 401 for a wrong bearer token. The test
// scripts it (push events, expire versions, drop streams) and inspects every request it got.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace httplib {
class SSLServer;
struct Request;
struct Response;
}  // namespace httplib

namespace peergate::testing {

struct FakeRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::string authorization;                       // the Authorization header, as sent
  std::string accept;                              // the Accept header
  int status = 0;                                  // what the fake answered

  std::string param(const std::string& key) const;
  bool has(const std::string& key) const { return params.count(key) > 0; }
  bool isWatch() const { return param("watch") == "1" || param("watch") == "true"; }
  bool isList() const { return method == "GET" && !isWatch(); }
};

class FakeApiServer {
 public:
  struct Options {
    std::string cert_file;  // serving certificate (gen.sh server.crt: 127.0.0.1, localhost)
    std::string key_file;
    std::string client_ca_file;        // when set, TLS client certificates are required
    std::string token = "test-token";  // required bearer token; "" accepts any request
    std::size_t max_page_size = 0;     // cap on ?limit= (real servers may return fewer)
  };
  // How a watch from a resourceVersion older than the compaction point is refused.
  enum class ExpiredAs { ErrorEvent, HttpStatus };

  explicit FakeApiServer(Options options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  // Binds 127.0.0.1 (port 0 the first time, the same port again after stop()) and serves.
  bool start();
  // Stops listening and aborts every open stream: the server is unreachable until start().
  void stop();
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  // The collections the watcher reads (namespaces, pods, services, peerauthentications,
  // destinationrules, istio-system configmaps). `core` lists send items without kind/apiVersion.
  void addResource(const std::string& path, const std::string& kind, const std::string& api_version,
                   bool core);
  void addStandardResources();
  // The collection is no longer served (404), as when its CRD is not installed.
  void removeResource(const std::string& path);

  // Stores the object (kind/apiVersion as given; metadata.resourceVersion set) and sends
  // ADDED or MODIFIED to open watches. Returns the new resourceVersion.
  std::string apply(const std::string& path, nlohmann::json object);
  // Deletes and sends DELETED (the object's last state with a new resourceVersion).
  std::string remove(const std::string& path, const std::string& ns, const std::string& name);
  // The same without any event, now or on resume: changes a watcher can only learn by listing.
  std::string applySilently(const std::string& path, nlohmann::json object);
  std::string removeSilently(const std::string& path, const std::string& ns,
                             const std::string& name);
  // BOOKMARK at the current resourceVersion to the open watches of `path`.
  std::string bookmark(const std::string& path);

  // Versions before the current one become too old: a watch resuming from them is refused.
  void compact();
  void setExpiredAs(ExpiredAs as);
  // Sends ERROR 410 "too old resource version" to the open watches of `path` and ends them.
  void sendExpired(const std::string& path);
  // Aborts the open watches of `path` without ending the chunked body; with `mid_event`, half
  // of an event line is sent first.
  void dropWatches(const std::string& path, bool mid_event = true);
  // Ends the open watches of `path` normally (as at timeoutSeconds).
  void endWatches(const std::string& path);
  // The next `count` LIST requests of `path` that carry a continue token get 410 Expired.
  void expireContinueTokens(const std::string& path, int count);
  // LIST requests of `path` wait (connection open, no answer) while held.
  void holdLists(const std::string& path, bool held);
  void setToken(const std::string& token);
  // Watches of `path` stay open but events are held (not sent) while paused.
  void pauseWatches(const std::string& path, bool paused);

  // A service-account token TokenReview accepts, issued for `audience` (and bound to `pod` when
  // given); any other token is answered authenticated: false.
  void addServiceAccountToken(const std::string& token, const std::string& ns,
                              const std::string& service_account, const std::string& audience,
                              const std::string& pod = "");

  std::string resourceVersion() const;
  std::vector<FakeRequest> requests() const;
  int count(const std::function<bool(const FakeRequest&)>& predicate) const;
  int openWatches(const std::string& path) const;
  // Polls `condition` until it holds or `timeout` passes.
  static bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

 private:
  struct Stream;
  struct Resource {
    std::string kind;
    std::string api_version;
    bool core = false;
    std::map<std::string, nlohmann::json> objects;  // "ns/name" or "name"
    struct Logged {
      std::uint64_t rv = 0;
      std::string name;
      std::string line;
    };
    std::vector<Logged> log;  // every emitted event, for watches that resume from a version
    std::vector<std::shared_ptr<Stream>> streams;
    bool paused = false;
    bool lists_held = false;
    int expire_continues = 0;
  };

  void handle(const httplib::Request& request, httplib::Response& response);
  void handleTokenReview(const httplib::Request& request, httplib::Response& response);
  void handleList(Resource& resource, const httplib::Request& request, httplib::Response& response,
                  std::unique_lock<std::mutex>& lock);
  void handleWatch(const std::string& path, Resource& resource, const httplib::Request& request,
                   httplib::Response& response, std::unique_lock<std::mutex>& lock);
  std::string change(const std::string& path, nlohmann::json object, const std::string& type,
                     bool emit);
  void broadcast(Resource& resource, const std::string& name, const std::string& line);
  Resource& resourceAt(const std::string& path);

  const Options options_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread listener_;
  int port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable streams_changed_;
  std::map<std::string, Resource> resources_;
  std::uint64_t resource_version_ = 1000;
  std::uint64_t compacted_ = 0;
  ExpiredAs expired_as_ = ExpiredAs::ErrorEvent;
  std::string token_;
  std::vector<FakeRequest> requests_;
  struct TokenIdentity {
    std::string ns;
    std::string sa;
    std::string audience;
    std::string pod;
  };
  std::map<std::string, TokenIdentity> tokens_;
  bool stopping_ = false;
};

// Objects as `kubectl get -o json` shows them (uid, creationTimestamp set).
nlohmann::json namespaceObject(const std::string& name,
                               const std::map<std::string, std::string>& labels = {});
nlohmann::json podObject(const std::string& ns, const std::string& name,
                         const std::map<std::string, std::string>& labels = {},
                         bool with_proxy = false);
nlohmann::json serviceObject(const std::string& ns, const std::string& name,
                             const std::map<std::string, std::string>& selector, int port,
                             int target_port);
nlohmann::json peerAuthenticationObject(const std::string& ns, const std::string& name,
                                        const std::string& mode,
                                        const std::map<std::string, std::string>& selector = {});
nlohmann::json destinationRuleObject(const std::string& ns, const std::string& name,
                                     const std::string& host, const std::string& tls_mode);

// Resource paths of the standard collections.
inline constexpr const char* kNamespaces = "/api/v1/namespaces";
inline constexpr const char* kPods = "/api/v1/pods";
inline constexpr const char* kServices = "/api/v1/services";
inline constexpr const char* kPeerAuthentications =
    "/apis/security.istio.io/v1/peerauthentications";
inline constexpr const char* kDestinationRules = "/apis/networking.istio.io/v1/destinationrules";
inline constexpr const char* kIstioConfigMaps = "/api/v1/namespaces/istio-system/configmaps";
inline constexpr const char* kTokenReviews = "/apis/authentication.k8s.io/v1/tokenreviews";

}  // namespace peergate::testing
