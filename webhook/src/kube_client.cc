#include "kube_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace peergate::webhook {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

// The reason a certificate failed verification in this thread's last handshake.
thread_local std::string t_verify_error;

int recordVerifyError(int ok, X509_STORE_CTX* context) {
  if (ok == 0 && t_verify_error.empty()) {
    t_verify_error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(context));
  }
  return ok;
}

bool isNumericAddress(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 ||
         ::inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

// The first address of `host`, numeric; empty when it does not resolve.
std::string resolveNumeric(const std::string& host) {
  if (isNumericAddress(host)) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) return {};
  char text[INET6_ADDRSTRLEN] = {};
  const void* address = nullptr;
  if (result->ai_family == AF_INET) {
    address = &reinterpret_cast<const sockaddr_in*>(result->ai_addr)->sin_addr;
  } else if (result->ai_family == AF_INET6) {
    address = &reinterpret_cast<const sockaddr_in6*>(result->ai_addr)->sin6_addr;
  }
  std::string numeric;
  if (address != nullptr && ::inet_ntop(result->ai_family, address, text, sizeof text)) {
    numeric = text;
  }
  ::freeaddrinfo(result);
  return numeric;
}

std::string openSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

std::optional<std::string> readFile(const std::string& path, std::string& reason) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    reason = errno != 0 ? std::strerror(errno) : "cannot open";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    reason = "I/O error";
    return std::nullopt;
  }
  return std::move(text).str();
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::vector<X509*> readCertificates(const std::string& pem) {
  std::vector<X509*> certificates;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return certificates;
  while (X509* certificate = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    certificates.push_back(certificate);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
  return certificates;
}

std::string hostForHeader(const std::string& host, int port) {
  const std::string name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == 443 ? name : name + ":" + std::to_string(port);
}

KubeError makeError(KubeError::Kind kind, std::string message) {
  KubeError error;
  error.kind = kind;
  error.message = std::move(message);
  return error;
}

std::string stringAt(const json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string{};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Errors

std::string KubeError::describe() const {
  switch (kind) {
    case Kind::Transport:
      return "connection failed: " + message;
    case Kind::Http: {
      std::string text = "HTTP " + std::to_string(status);
      if (!reason.empty()) text += " " + reason;
      if (!message.empty()) text += ": " + message;
      return text;
    }
    case Kind::Decode:
      return "unexpected response: " + message;
    case Kind::TooLarge:
      return "response too large: " + message;
    case Kind::Cancelled:
      return "cancelled";
  }
  return message;
}

KubeError statusError(const json& status, int fallback_code) {
  KubeError error;
  error.kind = KubeError::Kind::Http;
  error.status = fallback_code;
  if (status.is_object()) {
    const auto code = status.find("code");
    if (code != status.end() && code->is_number_integer()) error.status = code->get<int>();
    error.reason = stringAt(status, "reason");
    error.message = stringAt(status, "message");
  }
  return error;
}

KubeError statusError(int http_status, std::string_view body) {
  const json status = json::parse(body, nullptr, false);
  if (status.is_object() && stringAt(status, "kind") == "Status") {
    KubeError error = statusError(status, http_status);
    error.status = http_status;  // the HTTP status is authoritative
    return error;
  }
  KubeError error;
  error.kind = KubeError::Kind::Http;
  error.status = http_status;
  // Not a Status (a proxy in between, or an old server): quote the start of the body.
  std::string text(body.substr(0, 200));
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  error.message = trimmed(text);
  return error;
}

// ---------------------------------------------------------------------------------------------
// LineSplitter

bool LineSplitter::feed(std::string_view data,
                        const std::function<bool(std::string_view)>& on_line) {
  if (overflowed_) return false;
  while (!data.empty()) {
    const auto newline = data.find('\n');
    if (newline == std::string_view::npos) {
      if (partial_.size() + data.size() > max_line_) {
        overflowed_ = true;
        partial_.clear();
        return false;
      }
      partial_.append(data);
      return true;
    }
    std::string_view line = data.substr(0, newline);
    data.remove_prefix(newline + 1);
    if (partial_.size() + line.size() > max_line_) {
      overflowed_ = true;
      partial_.clear();
      return false;
    }
    bool keep_going = true;
    if (partial_.empty()) {
      if (!line.empty() && line != "\r") keep_going = on_line(line);
    } else {
      partial_.append(line);
      const std::string complete = std::move(partial_);
      partial_.clear();
      keep_going = on_line(complete);
    }
    if (!keep_going) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// BearerToken

BearerToken::BearerToken(std::string static_token, std::string file,
                         std::chrono::milliseconds refresh)
    : token_(std::move(static_token)), file_(std::move(file)), refresh_(refresh) {}

std::string BearerToken::get() {
  std::lock_guard lock(mutex_);
  if (file_.empty()) return token_;
  const Clock::time_point now = Clock::now();
  if (!valid_ || now - read_at_ >= refresh_) {
    std::string reason;
    ++reads_;
    if (std::optional<std::string> text = readFile(file_, reason)) {
      token_ = trimmed(*text);
      read_at_ = now;
      valid_ = true;
    }
    // Unreadable: keep the last token; the next call reads again.
  }
  return token_;
}

void BearerToken::invalidate() {
  std::lock_guard lock(mutex_);
  valid_ = false;
}

// ---------------------------------------------------------------------------------------------
// KubeClient

struct KubeClient::Tls {
  X509_STORE* store = nullptr;  // null when verification is skipped
  X509* client_cert = nullptr;  // with client_key, or neither
  EVP_PKEY* client_key = nullptr;
  std::vector<X509*> client_chain;  // intermediates after the leaf
  std::string error;

  ~Tls() {
    if (store != nullptr) X509_STORE_free(store);
    if (client_cert != nullptr) X509_free(client_cert);
    if (client_key != nullptr) EVP_PKEY_free(client_key);
    for (X509* certificate : client_chain) X509_free(certificate);
  }
};

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      token_(config_.token, config_.token_file, options_.token_refresh),
      tls_(std::make_unique<Tls>()) {
  Tls& tls = *tls_;
  if (!config_.insecure_skip_tls_verify) {
    tls.store = X509_STORE_new();
    std::string pem = config_.ca_pem;
    std::string source = "certificate-authority-data";
    if (!config_.ca_file.empty()) {
      std::string reason;
      std::optional<std::string> text = readFile(config_.ca_file, reason);
      source = config_.ca_file;
      if (!text) tls.error = "cannot read the CA bundle " + config_.ca_file + ": " + reason;
      pem = text.value_or("");
    }
    if (tls.error.empty() && !pem.empty()) {
      std::vector<X509*> certificates = readCertificates(pem);
      if (certificates.empty()) tls.error = "no PEM certificate in " + source;
      for (X509* certificate : certificates) {
        X509_STORE_add_cert(tls.store, certificate);
        X509_free(certificate);
      }
    } else if (tls.error.empty()) {
      X509_STORE_set_default_paths(tls.store);  // no CA configured: the system roots
    }
  }
  if (tls.error.empty() && config_.hasClientCertificate()) {
    std::string cert_pem = config_.client_cert_pem;
    std::string key_pem = config_.client_key_pem;
    std::string reason;
    if (!config_.client_cert_file.empty()) {
      cert_pem = readFile(config_.client_cert_file, reason).value_or("");
      if (cert_pem.empty()) tls.error = "cannot read " + config_.client_cert_file + ": " + reason;
    }
    if (tls.error.empty() && !config_.client_key_file.empty()) {
      key_pem = readFile(config_.client_key_file, reason).value_or("");
      if (key_pem.empty()) tls.error = "cannot read " + config_.client_key_file + ": " + reason;
    }
    if (tls.error.empty()) {
      std::vector<X509*> certificates = readCertificates(cert_pem);
      if (certificates.empty()) {
        tls.error = "no PEM certificate in the client certificate";
      } else {
        tls.client_cert = certificates.front();
        tls.client_chain.assign(certificates.begin() + 1, certificates.end());
      }
    }
    if (tls.error.empty()) {
      BIO* bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
      tls.client_key =
          bio != nullptr ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
      if (bio != nullptr) BIO_free(bio);
      if (tls.client_key == nullptr) {
        tls.error = "no PEM private key in the client key: " + openSslError();
      } else if (X509_check_private_key(tls.client_cert, tls.client_key) != 1) {
        ERR_clear_error();
        tls.error = "the client key does not match the client certificate";
      }
    }
  }
  if (config_.tls_server_name.empty()) {
    connect_host_ = config_.host;
  } else {
    connect_host_ = config_.tls_server_name;
    connect_ip_ = config_.host;  // resolved per connection when it is a name
  }
}

KubeClient::~KubeClient() { cancel(); }

bool KubeClient::valid(std::string* error) const {
  if (tls_->error.empty()) return true;
  if (error != nullptr) *error = tls_->error;
  return false;
}

std::string KubeClient::encodeQueryValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
        (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

std::shared_ptr<httplib::SSLClient> KubeClient::connect(std::chrono::milliseconds read_timeout) {
  if (cancelled_.load() || !tls_->error.empty()) return nullptr;
  Tls& tls = *tls_;
  auto client = tls.client_cert != nullptr
                    ? std::make_shared<httplib::SSLClient>(connect_host_, config_.port,
                                                           tls.client_cert, tls.client_key)
                    : std::make_shared<httplib::SSLClient>(connect_host_, config_.port);
  if (!client->is_valid()) return nullptr;
  SSL_CTX* context = client->ssl_context();
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  for (X509* certificate : tls.client_chain) SSL_CTX_add1_chain_cert(context, certificate);
  // Verification is done by OpenSSL during the handshake (not by httplib, which would add the
  // system roots to the cluster CA): the chain against our store, then the server name.
  client->enable_server_certificate_verification(false);
  if (tls.store == nullptr) {
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nullptr);
  } else {
    X509_STORE_up_ref(tls.store);
    SSL_CTX_set_cert_store(context, tls.store);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, recordVerifyError);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(context);
    const std::string& name = connect_host_;
    if (isNumericAddress(name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
  }
  if (!connect_ip_.empty()) {
    const std::string numeric = resolveNumeric(connect_ip_);
    if (numeric.empty()) return nullptr;
    client->set_hostname_addr_map({{connect_host_, numeric}});
  }
  client->set_connection_timeout(options_.connect_timeout);
  client->set_read_timeout(read_timeout);
  client->set_write_timeout(std::chrono::seconds(10));
  client->set_keep_alive(true);
  client->set_url_encode(false);  // targets are encoded already
  client->set_socket_options([](int socket) {
    // A dead peer (node gone, half-open connection) surfaces within about a minute instead of
    // at the next read timeout.
    const int on = 1;
    const int idle = 30;
    const int interval = 10;
    const int count = 3;
    ::setsockopt(socket, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(socket, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(socket, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(socket, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  });
  {
    std::lock_guard lock(active_mutex_);
    if (cancelled_.load()) return nullptr;
    active_.insert(client);
  }
  return client;
}

void KubeClient::release(const std::shared_ptr<httplib::SSLClient>& client) {
  std::lock_guard lock(active_mutex_);
  active_.erase(client);
}

void KubeClient::cancel() {
  cancelled_.store(true);
  std::vector<std::shared_ptr<httplib::SSLClient>> clients;
  {
    std::lock_guard lock(active_mutex_);
    clients.assign(active_.begin(), active_.end());
  }
  // Shuts the sockets down: a read blocked on an idle watch returns at once.
  for (const auto& client : clients) client->stop();
}

KubeClient::Response KubeClient::getOnce(const std::shared_ptr<httplib::SSLClient>& client,
                                         const std::string& target,
                                         const std::function<void()>& on_open,
                                         const StreamSink& sink) {
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", options_.user_agent},
                              {"Host", hostForHeader(config_.host, config_.port)}};
  const std::string bearer = token_.get();
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);

  Response response;
  bool too_large = false;
  bool sink_stopped = false;
  auto ok = [&response] { return response.status >= 200 && response.status < 300; };
  t_verify_error.clear();
  httplib::Result result = client->Get(
      target, headers,
      [&](const httplib::Response& head) {
        response.status = head.status;
        if (cancelled_.load()) return false;
        if (ok() && on_open) on_open();
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (cancelled_.load()) return false;
        if (ok() && sink) {
          if (!sink(data, size)) {
            sink_stopped = true;
            return false;
          }
          return true;
        }
        const std::size_t limit = ok() ? options_.max_body_bytes : kMaxErrorBodyBytes;
        if (response.body.size() + size > limit) {
          if (!ok()) return true;  // an error body: its start is enough
          too_large = true;
          return false;
        }
        response.body.append(data, size);
        return true;
      });
  if (result) return response;
  if (sink_stopped) return response;  // the caller knows why it stopped
  if (cancelled_.load()) {
    response.error = makeError(KubeError::Kind::Cancelled, "cancelled");
  } else if (too_large) {
    response.error = makeError(
        KubeError::Kind::TooLarge,
        "the body of " + target + " exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
  } else {
    std::string message = httplib::to_string(result.error()) + " (" + config_.host + ":" +
                          std::to_string(config_.port) + ")";
    if (!t_verify_error.empty()) {
      message += ": server certificate not trusted: " + t_verify_error;
    } else if (result.error() == httplib::Error::SSLConnection) {
      message += ": TLS handshake failed";
    }
    if (response.status != 0) message += " after HTTP " + std::to_string(response.status);
    response.error = makeError(KubeError::Kind::Transport, std::move(message));
  }
  return response;
}

KubeClient::Response KubeClient::get(const std::shared_ptr<httplib::SSLClient>& client,
                                     const std::string& target,
                                     const std::function<void()>& on_open, const StreamSink& sink) {
  Response response = getOnce(client, target, on_open, sink);
  if (!response.error && response.status == 401 && !config_.token_file.empty()) {
    // The token may have been rotated since it was read: read it again and retry once.
    token_.invalidate();
    response = getOnce(client, target, on_open, sink);
  }
  if (!response.error && (response.status < 200 || response.status >= 300)) {
    response.error = statusError(response.status, response.body);
  }
  return response;
}

KubeClient::Response KubeClient::postOnce(const std::shared_ptr<httplib::SSLClient>& client,
                                          const std::string& target, const std::string& body) {
  httplib::Headers headers = {{"Accept", "application/json"},
                              {"User-Agent", options_.user_agent},
                              {"Host", hostForHeader(config_.host, config_.port)}};
  const std::string bearer = token_.get();
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  Response response;
  t_verify_error.clear();
  httplib::Result result = client->Post(target, headers, body, "application/json");
  if (result) {
    response.status = result->status;
    response.body = result->body.size() > options_.max_body_bytes ? std::string() : result->body;
    return response;
  }
  if (cancelled_.load()) {
    response.error = makeError(KubeError::Kind::Cancelled, "cancelled");
    return response;
  }
  std::string message = httplib::to_string(result.error()) + " (" + config_.host + ":" +
                        std::to_string(config_.port) + ")";
  if (!t_verify_error.empty()) message += ": server certificate not trusted: " + t_verify_error;
  response.error = makeError(KubeError::Kind::Transport, std::move(message));
  return response;
}

KubeClient::CreateResult KubeClient::create(const std::string& path, const nlohmann::json& object) {
  CreateResult result;
  std::shared_ptr<httplib::SSLClient> client = connect(options_.request_timeout);
  if (!client) {
    result.error =
        makeError(cancelled_.load() ? KubeError::Kind::Cancelled : KubeError::Kind::Transport,
                  "cannot connect to " + config_.host);
    return result;
  }
  const std::string body = object.dump();
  Response response = postOnce(client, path, body);
  if (!response.error && response.status == 401 && !config_.token_file.empty()) {
    token_.invalidate();
    response = postOnce(client, path, body);
  }
  release(client);
  if (response.error) {
    result.error = std::move(response.error);
  } else if (response.status < 200 || response.status >= 300) {
    result.error = statusError(response.status, response.body);
  } else {
    try {
      result.object = nlohmann::json::parse(response.body);
    } catch (const nlohmann::json::exception& error) {
      result.error = makeError(KubeError::Kind::Decode, path + ": " + error.what());
    }
  }
  return result;
}

KubeClient::ListResult KubeClient::list(const std::string& path, const std::string& query,
                                        const ListCallbacks& callbacks) {
  ListResult result;
  std::shared_ptr<httplib::SSLClient> client = connect(options_.request_timeout);
  if (!client) {
    result.error =
        cancelled_.load()
            ? makeError(KubeError::Kind::Cancelled, "cancelled")
            : makeError(KubeError::Kind::Transport,
                        tls_->error.empty() ? "cannot resolve " + connect_ip_ : tls_->error);
    return result;
  }
  const std::string base = config_.base_path + path +
                           "?limit=" + std::to_string(options_.page_limit) +
                           (query.empty() ? std::string{} : "&" + query);
  std::string continue_token;
  for (;;) {
    const std::string target =
        continue_token.empty() ? base : base + "&continue=" + encodeQueryValue(continue_token);
    Response response = get(client, target, nullptr, nullptr);
    if (response.error) {
      if (response.error->expired() && !continue_token.empty() &&
          result.restarts < options_.max_list_restarts) {
        // The continue token expired (etcd compacted past the list's revision): start over
        // without it, which is a new consistent read.
        ++result.restarts;
        continue_token.clear();
        result.pages = 0;
        if (callbacks.on_restart) callbacks.on_restart();
        continue;
      }
      result.error = std::move(response.error);
      break;
    }
    json page = json::parse(response.body, nullptr, false);
    response.body.clear();
    response.body.shrink_to_fit();
    if (page.is_discarded() || !page.is_object()) {
      result.error = makeError(KubeError::Kind::Decode, "the LIST of " + path + " is not JSON");
      break;
    }
    const json& metadata = page.contains("metadata") ? page["metadata"] : json();
    const std::string resource_version = stringAt(metadata, "resourceVersion");
    const std::string next = stringAt(metadata, "continue");
    auto items = page.find("items");
    if (items != page.end() && !items->is_null() && !items->is_array()) {
      result.error =
          makeError(KubeError::Kind::Decode, "the LIST of " + path + " has no items array");
      break;
    }
    bool stopped = false;
    if (items != page.end() && items->is_array()) {
      for (json& item : *items) {
        if (callbacks.on_item && !callbacks.on_item(item)) {
          stopped = true;
          break;
        }
      }
    }
    ++result.pages;
    if (stopped || cancelled_.load()) {
      result.error = makeError(KubeError::Kind::Cancelled, "cancelled");
      break;
    }
    if (next.empty()) {
      if (resource_version.empty()) {
        result.error = makeError(KubeError::Kind::Decode,
                                 "the LIST of " + path + " has no metadata.resourceVersion");
      }
      result.resource_version = resource_version;
      break;
    }
    continue_token = next;
  }
  release(client);
  return result;
}

KubeClient::WatchResult KubeClient::watch(
    const std::string& path, const std::string& query, const std::string& resource_version,
    int timeout_seconds, const std::function<void()>& on_open,
    const std::function<bool(nlohmann::json& event)>& on_event) {
  WatchResult result;
  std::shared_ptr<httplib::SSLClient> client = connect(options_.watch_read_timeout);
  if (!client) {
    result.error =
        cancelled_.load()
            ? makeError(KubeError::Kind::Cancelled, "cancelled")
            : makeError(KubeError::Kind::Transport,
                        tls_->error.empty() ? "cannot resolve " + connect_ip_ : tls_->error);
    return result;
  }
  client->set_keep_alive(false);
  const std::string target =
      config_.base_path + path + "?watch=1&resourceVersion=" + encodeQueryValue(resource_version) +
      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(timeout_seconds) +
      (query.empty() ? std::string{} : "&" + query);

  LineSplitter lines(options_.max_event_bytes);
  std::optional<KubeError> line_error;
  bool stopped = false;
  auto on_line = [&](std::string_view line) {
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      line_error = makeError(KubeError::Kind::Decode,
                             "a watch event of " + path +
                                 " is not a JSON object: " + std::string(line.substr(0, 120)));
      return false;
    }
    ++result.events;
    if (!on_event(event)) {
      stopped = true;
      return false;
    }
    return true;
  };
  Response response = get(
      client, target,
      [&] {
        result.opened = true;
        if (on_open) on_open();
      },
      [&](const char* data, std::size_t size) {
        return lines.feed(std::string_view(data, size), on_line);
      });
  release(client);
  if (lines.overflowed()) {
    result.error = makeError(KubeError::Kind::TooLarge,
                             "a watch event of " + path + " exceeds " +
                                 std::to_string(options_.max_event_bytes) + " bytes");
  } else if (line_error) {
    result.error = std::move(line_error);
  } else if (!stopped) {
    result.error = std::move(response.error);
  }
  return result;
}

}  // namespace peergate::webhook
