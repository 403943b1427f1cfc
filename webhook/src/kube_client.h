#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kube_config.h"

namespace httplib {
class SSLClient;
}

namespace peergate::webhook {

struct KubeClientOptions {
  // The bearer token file is re-read at least this often, and after every 401 (the kubelet
  // rotates projected tokens; client-go re-reads every minute).
  std::chrono::milliseconds token_refresh{60'000};
  std::chrono::milliseconds connect_timeout{5'000};   // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{60'000};  // a read on a LIST/GET connection
  // A read on a watch connection; longer than timeoutSeconds so the server ends the stream
  // first. TCP keepalive detects a dead peer well before it.
  std::chrono::milliseconds watch_read_timeout{330'000};
  int page_limit = 500;                                 // LIST ?limit=
  int max_list_restarts = 5;                            // expired continue tokens in a row
  std::size_t max_body_bytes = std::size_t{256} << 20;  // one LIST page or GET body
  std::size_t max_event_bytes = std::size_t{16} << 20;  // one watch event line
  std::string user_agent = "peergate";
};

// Why a call did not produce what was asked.
struct KubeError {
  enum class Kind {
    Transport,  // connect, TLS, read or write failed; connection dropped
    Http,       // the server answered with a non-2xx status (see status/reason/message)
    Decode,     // the body was not the JSON expected
    TooLarge,   // a body or watch line exceeded the configured limit
    Cancelled,  // cancel() was called
  };
  Kind kind = Kind::Transport;
  int status = 0;      // HTTP status (Http), or the code of a watch ERROR event's Status
  std::string reason;  // metav1.Status reason ("Expired", "Forbidden", ...) when given
  std::string message;

  // 410 Gone / reason Expired: the resourceVersion or continue token can no longer be used.
  bool expired() const { return status == 410; }
  std::string describe() const;
};

// A metav1.Status body (every API error, and the object of watch ERROR events).
KubeError statusError(int http_status, std::string_view body);
KubeError statusError(const nlohmann::json& status, int fallback_code);

// Splits a byte stream into '\n'-terminated lines across arbitrary chunk boundaries, holding at
// most `max_line` bytes of an unfinished line.
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line) : max_line_(max_line) {}
  // Calls `on_line` for each complete line (without the '\n'; blank lines skipped); stops early
  // when it returns false. False when a line exceeded the limit or `on_line` stopped.
  bool feed(std::string_view data, const std::function<bool(std::string_view)>& on_line);
  std::size_t pending() const { return partial_.size(); }
  bool overflowed() const { return overflowed_; }

 private:
  std::size_t max_line_;
  std::string partial_;
  bool overflowed_ = false;
};

// The bearer token: a static token, or a file re-read when older than `refresh` and after
// `invalidate()` (a 401). An unreadable file keeps the last good token until the next read.
class BearerToken {
 public:
  using Clock = std::chrono::steady_clock;
  BearerToken(std::string static_token, std::string file, std::chrono::milliseconds refresh);
  std::string get();
  void invalidate();
  int reads() const { return reads_.load(); }  // file reads so far (tests)

 private:
  std::mutex mutex_;
  std::string token_;
  const std::string file_;
  const std::chrono::milliseconds refresh_;
  Clock::time_point read_at_{};
  bool valid_ = false;
  std::atomic<int> reads_{0};
};

// A small Kubernetes REST client over cpp-httplib's SSLClient: TLS 1.2+ verified against the
// cluster CA (or skipped when the kubeconfig says so), bearer token or client certificate,
// `Accept: application/json`. Thread-safe: every call uses its own connection, so a watch may
// hold one for minutes while lists run on others.
class KubeClient {
 public:
  explicit KubeClient(KubeConfig config, KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // False (with `error`) when the CA bundle or client certificate/key cannot be loaded.
  bool valid(std::string* error = nullptr) const;

  struct ListResult {
    std::optional<KubeError> error;
    std::string resource_version;  // the list's metadata.resourceVersion
    int pages = 0;
    int restarts = 0;  // times the list started over after an expired continue token
  };
  struct ListCallbacks {
    // Every item of every page, in order (mutable: the caller may move from it). False stops.
    std::function<bool(nlohmann::json& item)> on_item;
    // The list starts over from the first page: drop what on_item collected.
    std::function<void()> on_restart;
  };
  // Paged LIST: `path` + `?limit=N` (+ `&` + `query` when given), following metadata.continue
  // until it is empty. A 410 on a continue page restarts the list from the beginning (a
  // consistent read), at most `max_list_restarts` times in a row.
  ListResult list(const std::string& path, const std::string& query,
                  const ListCallbacks& callbacks);

  struct WatchResult {
    std::optional<KubeError> error;  // nullopt: the server ended the stream normally
    bool opened = false;             // the server answered 200 and the stream began
    std::size_t events = 0;
  };
  // One WATCH request: GET path?watch=1&resourceVersion=RV&allowWatchBookmarks=true
  // &timeoutSeconds=T[&query]. `on_open` runs when the 200 arrives; `on_event` for every event
  // line, parsed, as soon as its last byte arrived. Returns when the stream ends, fails, or a
  // callback returns false (then error is nullopt).
  WatchResult watch(const std::string& path, const std::string& query,
                    const std::string& resource_version, int timeout_seconds,
                    const std::function<void()>& on_open,
                    const std::function<bool(nlohmann::json& event)>& on_event);

  struct CreateResult {
    std::optional<KubeError> error;
    nlohmann::json object;  // the server's reply (201/200)
  };
  // One POST of `object` to `path` (a create, e.g. a TokenReview), retried once with a re-read
  // token after a 401. Non-2xx answers become an Http error from their metav1.Status.
  CreateResult create(const std::string& path, const nlohmann::json& object);

  // Aborts calls in flight (they return Cancelled) and makes later calls return Cancelled at
  // once. Safe to call from any thread, repeatedly.
  void cancel();
  bool cancelled() const { return cancelled_.load(); }

  const KubeConfig& config() const { return config_; }
  BearerToken& token() { return token_; }

  // Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
  static std::string encodeQueryValue(std::string_view value);

 private:
  struct Tls;
  struct Response {
    std::optional<KubeError> error;
    int status = 0;
    std::string body;  // non-2xx bodies, and 2xx bodies unless streamed
  };
  using StreamSink = std::function<bool(const char* data, std::size_t size)>;

  std::shared_ptr<httplib::SSLClient> connect(std::chrono::milliseconds read_timeout);
  void release(const std::shared_ptr<httplib::SSLClient>& client);
  // One GET with the auth header; retried once with a re-read token after a 401. With `sink`,
  // a 2xx body is streamed to it instead of being collected.
  Response get(const std::shared_ptr<httplib::SSLClient>& client, const std::string& target,
               const std::function<void()>& on_open, const StreamSink& sink);
  Response getOnce(const std::shared_ptr<httplib::SSLClient>& client, const std::string& target,
                   const std::function<void()>& on_open, const StreamSink& sink);

  Response postOnce(const std::shared_ptr<httplib::SSLClient>& client, const std::string& target,
                    const std::string& body);

  const KubeConfig config_;
  const KubeClientOptions options_;
  BearerToken token_;
  std::unique_ptr<Tls> tls_;
  std::string connect_host_;  // host given to httplib (tls-server-name when set)
  std::string connect_ip_;    // numeric address when connect_host_ is not the server host

  std::atomic<bool> cancelled_{false};
  std::mutex active_mutex_;
  std::set<std::shared_ptr<httplib::SSLClient>> active_;
};

}  // namespace peergate::webhook
