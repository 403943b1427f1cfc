#include "fake_apiserver.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <utility>

#include <httplib.h>

namespace peergate::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string statusBody(int code, const std::string& reason, const std::string& message) {
  return json({{"kind", "Status"},
               {"apiVersion", "v1"},
               {"metadata", json::object()},
               {"status", "Failure"},
               {"message", message},
               {"reason", reason},
               {"code", code}})
      .dump();
}

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Continue tokens are opaque to clients; standard base64 puts '+', '/' and '=' in them, which
// a client must percent-encode.
std::string base64(const std::string& text) {
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (const unsigned char c : text) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3Fu]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3Fu]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string unbase64(const std::string& text) {
  const std::string alphabet = kAlphabet;
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const auto index = alphabet.find(c);
    if (index == std::string::npos) continue;
    buffer = (buffer << 6) | static_cast<unsigned int>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFFu));
    }
  }
  return out;
}

std::string keyOf(const json& object) {
  const json& metadata = object.at("metadata");
  const std::string name = metadata.value("name", "");
  const std::string ns = metadata.value("namespace", "");
  return ns.empty() ? name : ns + "/" + name;
}

std::string nameSelected(const httplib::Request& request) {
  const std::string selector =
      request.has_param("fieldSelector") ? request.get_param_value("fieldSelector") : "";
  constexpr std::string_view kName = "metadata.name=";
  return selector.starts_with(kName) ? selector.substr(kName.size()) : std::string{};
}

std::atomic<int> g_uid{0};

json metadataFor(const std::string& ns, const std::string& name,
                 const std::map<std::string, std::string>& labels) {
  json metadata = {{"name", name},
                   {"uid", "00000000-0000-4000-8000-" + std::to_string(100000000000 + ++g_uid)},
                   {"creationTimestamp", "2024-05-01T10:00:00Z"}};
  if (!ns.empty()) metadata["namespace"] = ns;
  if (!labels.empty()) metadata["labels"] = labels;
  return metadata;
}

}  // namespace

std::string FakeRequest::param(const std::string& key) const {
  const auto found = params.find(key);
  return found == params.end() ? std::string{} : found->second;
}

struct FakeApiServer::Stream {
  std::deque<std::string> queue;  // event lines, each ending in '\n'
  std::string name_filter;        // fieldSelector=metadata.name=X
  bool end = false;
  bool drop = false;
  bool drop_mid_event = false;
  Clock::time_point deadline;
};

FakeApiServer::FakeApiServer(Options options)
    : options_(std::move(options)), token_(options_.token) {}

FakeApiServer::~FakeApiServer() { stop(); }

bool FakeApiServer::start() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  server_ = std::make_unique<httplib::SSLServer>(
      options_.cert_file.c_str(), options_.key_file.c_str(),
      options_.client_ca_file.empty() ? nullptr : options_.client_ca_file.c_str());
  if (!server_->is_valid()) return false;
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->Get(R"(.*)", [this](const httplib::Request& request, httplib::Response& response) {
    handle(request, response);
  });
  server_->Post(kTokenReviews,
                [this](const httplib::Request& request, httplib::Response& response) {
                  handleTokenReview(request, response);
                });
  if (port_ == 0) {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) return false;
  } else {
    // Back on the same port after stop(); the kernel may need a moment to release it.
    bool bound = false;
    for (int attempt = 0; attempt < 100 && !bound; ++attempt) {
      bound = server_->bind_to_port("127.0.0.1", port_);
      if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!bound) return false;
  }
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  return waitFor([this] { return server_->is_running(); }, std::chrono::seconds(5));
}

void FakeApiServer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  streams_changed_.notify_all();
  if (server_) server_->stop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
}

void FakeApiServer::addResource(const std::string& path, const std::string& kind,
                                const std::string& api_version, bool core) {
  std::lock_guard lock(mutex_);
  Resource& resource = resources_[path];
  resource.kind = kind;
  resource.api_version = api_version;
  resource.core = core;
}

void FakeApiServer::addStandardResources() {
  addResource(kNamespaces, "Namespace", "v1", true);
  addResource(kPods, "Pod", "v1", true);
  addResource(kServices, "Service", "v1", true);
  addResource(kPeerAuthentications, "PeerAuthentication", "security.istio.io/v1", false);
  addResource(kDestinationRules, "DestinationRule", "networking.istio.io/v1", false);
  addResource(kIstioConfigMaps, "ConfigMap", "v1", true);
}

void FakeApiServer::removeResource(const std::string& path) {
  std::lock_guard lock(mutex_);
  resources_.erase(path);
}

FakeApiServer::Resource& FakeApiServer::resourceAt(const std::string& path) {
  const auto found = resources_.find(path);
  if (found == resources_.end()) throw std::logic_error("no resource " + path);
  return found->second;
}

std::string FakeApiServer::change(const std::string& path, json object, const std::string& type,
                                  bool emit) {
  std::lock_guard lock(mutex_);
  Resource& resource = resourceAt(path);
  const std::uint64_t rv = ++resource_version_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  const std::string key = keyOf(object);
  if (type == "DELETED") {
    resource.objects.erase(key);
  } else {
    resource.objects[key] = object;
  }
  if (emit) {
    const std::string line = json({{"type", type}, {"object", object}}).dump() + "\n";
    const std::string name = object["metadata"].value("name", "");
    resource.log.push_back({rv, name, line});
    broadcast(resource, name, line);
  }
  return std::to_string(rv);
}

std::string FakeApiServer::apply(const std::string& path, json object) {
  std::string type;
  {
    std::lock_guard lock(mutex_);
    type = resourceAt(path).objects.count(keyOf(object)) ? "MODIFIED" : "ADDED";
  }
  return change(path, std::move(object), type, true);
}

std::string FakeApiServer::applySilently(const std::string& path, json object) {
  return change(path, std::move(object), "MODIFIED", false);
}

std::string FakeApiServer::remove(const std::string& path, const std::string& ns,
                                  const std::string& name) {
  json object;
  {
    std::lock_guard lock(mutex_);
    Resource& resource = resourceAt(path);
    const auto found = resource.objects.find(ns.empty() ? name : ns + "/" + name);
    if (found == resource.objects.end()) return {};
    object = found->second;
  }
  return change(path, std::move(object), "DELETED", true);
}

std::string FakeApiServer::removeSilently(const std::string& path, const std::string& ns,
                                          const std::string& name) {
  json object;
  {
    std::lock_guard lock(mutex_);
    Resource& resource = resourceAt(path);
    const auto found = resource.objects.find(ns.empty() ? name : ns + "/" + name);
    if (found == resource.objects.end()) return {};
    object = found->second;
  }
  return change(path, std::move(object), "DELETED", false);
}

std::string FakeApiServer::bookmark(const std::string& path) {
  std::lock_guard lock(mutex_);
  Resource& resource = resourceAt(path);
  const std::string rv = std::to_string(++resource_version_);
  const std::string line = json({{"type", "BOOKMARK"},
                                 {"object",
                                  {{"kind", resource.kind},
                                   {"apiVersion", resource.api_version},
                                   {"metadata", {{"resourceVersion", rv}}}}}})
                               .dump() +
                           "\n";
  broadcast(resource, "", line);
  return rv;
}

void FakeApiServer::broadcast(Resource& resource, const std::string& name,
                              const std::string& line) {
  for (const auto& stream : resource.streams) {
    if (!name.empty() && !stream->name_filter.empty() && stream->name_filter != name) continue;
    stream->queue.push_back(line);
  }
  streams_changed_.notify_all();
}

void FakeApiServer::compact() {
  std::lock_guard lock(mutex_);
  compacted_ = resource_version_;
}

void FakeApiServer::setExpiredAs(ExpiredAs as) {
  std::lock_guard lock(mutex_);
  expired_as_ = as;
}

void FakeApiServer::sendExpired(const std::string& path) {
  std::lock_guard lock(mutex_);
  Resource& resource = resourceAt(path);
  const std::string line =
      json({{"type", "ERROR"},
            {"object",
             json::parse(statusBody(410, "Expired",
                                    "too old resource version: " + std::to_string(compacted_) +
                                        " (" + std::to_string(resource_version_) + ")"))}})
          .dump() +
      "\n";
  for (const auto& stream : resource.streams) {
    stream->queue.push_back(line);
    stream->end = true;
  }
  streams_changed_.notify_all();
}

void FakeApiServer::dropWatches(const std::string& path, bool mid_event) {
  std::lock_guard lock(mutex_);
  for (const auto& stream : resourceAt(path).streams) {
    stream->drop = true;
    stream->drop_mid_event = mid_event;
  }
  streams_changed_.notify_all();
}

void FakeApiServer::endWatches(const std::string& path) {
  std::lock_guard lock(mutex_);
  for (const auto& stream : resourceAt(path).streams) stream->end = true;
  streams_changed_.notify_all();
}

void FakeApiServer::expireContinueTokens(const std::string& path, int count) {
  std::lock_guard lock(mutex_);
  resourceAt(path).expire_continues = count;
}

void FakeApiServer::holdLists(const std::string& path, bool held) {
  std::lock_guard lock(mutex_);
  resourceAt(path).lists_held = held;
  streams_changed_.notify_all();
}

void FakeApiServer::setToken(const std::string& token) {
  std::lock_guard lock(mutex_);
  token_ = token;
}

void FakeApiServer::pauseWatches(const std::string& path, bool paused) {
  std::lock_guard lock(mutex_);
  resourceAt(path).paused = paused;
  streams_changed_.notify_all();
}

std::string FakeApiServer::resourceVersion() const {
  std::lock_guard lock(mutex_);
  return std::to_string(resource_version_);
}

std::vector<FakeRequest> FakeApiServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

int FakeApiServer::count(const std::function<bool(const FakeRequest&)>& predicate) const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(std::count_if(requests_.begin(), requests_.end(), predicate));
}

int FakeApiServer::openWatches(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto found = resources_.find(path);
  return found == resources_.end() ? 0 : static_cast<int>(found->second.streams.size());
}

bool FakeApiServer::waitFor(const std::function<bool()>& condition,
                            std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void FakeApiServer::handle(const httplib::Request& request, httplib::Response& response) {
  std::unique_lock lock(mutex_);
  FakeRequest record;
  record.method = request.method;
  record.path = request.path;
  for (const auto& [key, value] : request.params) record.params.emplace(key, value);
  record.authorization = request.get_header_value("Authorization");
  record.accept = request.get_header_value("Accept");
  const std::size_t index = requests_.size();
  requests_.push_back(record);
  auto answer = [&](int code, const std::string& reason, const std::string& message) {
    response.status = code;
    response.set_content(statusBody(code, reason, message), "application/json");
    requests_[index].status = code;
  };
  if (!token_.empty() && record.authorization != "Bearer " + token_) {
    answer(401, "Unauthorized", "Unauthorized");
    return;
  }
  const auto found = resources_.find(request.path);
  if (found == resources_.end()) {
    answer(404, "NotFound", "the server could not find the requested resource");
    return;
  }
  if (record.isWatch()) {
    handleWatch(request.path, found->second, request, response, lock);
  } else {
    handleList(found->second, request, response, lock);
  }
}

void FakeApiServer::addServiceAccountToken(const std::string& token, const std::string& ns,
                                           const std::string& service_account,
                                           const std::string& audience, const std::string& pod) {
  std::lock_guard lock(mutex_);
  tokens_[token] = {ns, service_account, audience, pod};
}

// As the API server answers (kubernetes-wire.md §6): 201 with the verdict in status; a bad token
// is not an HTTP error.
void FakeApiServer::handleTokenReview(const httplib::Request& request,
                                      httplib::Response& response) {
  std::lock_guard lock(mutex_);
  FakeRequest record;
  record.method = request.method;
  record.path = request.path;
  record.authorization = request.get_header_value("Authorization");
  if (!token_.empty() && record.authorization != "Bearer " + token_) {
    record.status = 401;
    requests_.push_back(record);
    response.status = 401;
    response.set_content(statusBody(401, "Unauthorized", "Unauthorized"), "application/json");
    return;
  }
  record.status = 201;
  requests_.push_back(record);
  const nlohmann::json review = nlohmann::json::parse(request.body, nullptr, false);
  const std::string token = review.is_object() ? review["spec"].value("token", "") : "";
  nlohmann::json status = {{"authenticated", false}, {"error", "invalid bearer token"}};
  auto found = tokens_.find(token);
  if (found != tokens_.end()) {
    const TokenIdentity& identity = found->second;
    nlohmann::json extra = nlohmann::json::object();
    if (!identity.pod.empty()) {
      extra["authentication.kubernetes.io/pod-name"] = nlohmann::json::array({identity.pod});
    }
    nlohmann::json audiences = nlohmann::json::array();
    for (const auto& wanted : review["spec"].value("audiences", nlohmann::json::array())) {
      if (wanted == identity.audience) audiences.push_back(wanted);
    }
    status = {
        {"authenticated", true},
        {"user",
         {{"username", "system:serviceaccount:" + identity.ns + ":" + identity.sa},
          {"uid", "uid-" + identity.sa},
          {"groups", nlohmann::json::array({"system:serviceaccounts", "system:authenticated"})},
          {"extra", extra}}},
        {"audiences", audiences}};
  }
  response.status = 201;
  response.set_content(
      nlohmann::json{
          {"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"}, {"status", status}}
          .dump(),
      "application/json");
}

void FakeApiServer::handleList(Resource& resource, const httplib::Request& request,
                               httplib::Response& response, std::unique_lock<std::mutex>& lock) {
  const std::size_t index = requests_.size() - 1;
  streams_changed_.wait(lock, [&] { return stopping_ || !resource.lists_held; });
  FakeRequest& record = requests_[index];
  if (stopping_) {
    record.status = 503;
    response.status = 503;
    return;
  }
  std::size_t limit = 0;
  if (request.has_param("limit")) limit = std::stoul(request.get_param_value("limit"));
  if (options_.max_page_size > 0 && (limit == 0 || limit > options_.max_page_size)) {
    limit = options_.max_page_size;
  }
  std::string list_rv = std::to_string(resource_version_);
  std::string after;
  if (request.has_param("continue")) {
    if (resource.expire_continues > 0) {
      --resource.expire_continues;
      record.status = 410;
      response.status = 410;
      response.set_content(
          statusBody(410, "Expired",
                     "The provided continue parameter is too old to display a consistent list "
                     "result. You can start a new list without the continue parameter, or use "
                     "the continue token in this response to retrieve the remainder of the "
                     "results. Continuing with the provided token results in an inconsistent "
                     "list - objects that were created, modified, or deleted between the time "
                     "the first chunk was returned and now may show up in the list."),
          "application/json");
      return;
    }
    const std::string token = unbase64(request.get_param_value("continue"));
    const auto newline = token.find('\n');
    if (newline == std::string::npos) {
      record.status = 400;
      response.status = 400;
      response.set_content(statusBody(400, "BadRequest", "invalid continue token"),
                           "application/json");
      return;
    }
    list_rv = token.substr(0, newline);
    after = token.substr(newline + 1);
  }
  const std::string only = nameSelected(request);
  json items = json::array();
  std::string last;
  bool more = false;
  for (auto it = resource.objects.upper_bound(after); it != resource.objects.end(); ++it) {
    if (!only.empty() && it->second["metadata"].value("name", "") != only) continue;
    if (limit > 0 && items.size() == limit) {
      more = true;
      break;
    }
    json item = it->second;
    if (resource.core) {
      item.erase("kind");
      item.erase("apiVersion");
    }
    items.push_back(std::move(item));
    last = it->first;
  }
  json metadata = {{"resourceVersion", list_rv}};
  if (more) metadata["continue"] = base64(list_rv + "\n" + last);
  const json list = {{"kind", resource.kind + "List"},
                     {"apiVersion", resource.api_version},
                     {"metadata", metadata},
                     {"items", items}};
  record.status = 200;
  response.set_content(list.dump(), "application/json");
}

void FakeApiServer::handleWatch(const std::string& path, Resource& resource,
                                const httplib::Request& request, httplib::Response& response,
                                std::unique_lock<std::mutex>&) {
  FakeRequest& record = requests_.back();
  auto stream = std::make_shared<Stream>();
  stream->name_filter = nameSelected(request);
  const std::string rv_text =
      request.has_param("resourceVersion") ? request.get_param_value("resourceVersion") : "";
  const int timeout = request.has_param("timeoutSeconds")
                          ? std::stoi(request.get_param_value("timeoutSeconds"))
                          : 1800;
  stream->deadline = Clock::now() + std::chrono::seconds(timeout);
  const std::uint64_t from = rv_text.empty() ? 0 : std::stoull(rv_text);
  if (!rv_text.empty() && rv_text != "0" && from < compacted_) {
    const std::string message =
        "too old resource version: " + rv_text + " (" + std::to_string(compacted_) + ")";
    if (expired_as_ == ExpiredAs::HttpStatus) {
      record.status = 410;
      response.status = 410;
      response.set_content(statusBody(410, "Expired", message), "application/json");
      return;
    }
    stream->queue.push_back(
        json({{"type", "ERROR"}, {"object", json::parse(statusBody(410, "Expired", message))}})
            .dump() +
        "\n");
    stream->end = true;
  } else if (rv_text.empty() || rv_text == "0") {
    for (const auto& [key, object] : resource.objects) {
      if (!stream->name_filter.empty() &&
          object["metadata"].value("name", "") != stream->name_filter) {
        continue;
      }
      stream->queue.push_back(json({{"type", "ADDED"}, {"object", object}}).dump() + "\n");
    }
  } else {
    for (const Resource::Logged& logged : resource.log) {
      if (logged.rv <= from) continue;
      if (!stream->name_filter.empty() && logged.name != stream->name_filter) continue;
      stream->queue.push_back(logged.line);
    }
  }
  resource.streams.push_back(stream);
  record.status = 200;
  response.set_chunked_content_provider(
      "application/json",
      [this, stream, path](std::size_t, httplib::DataSink& sink) {
        std::unique_lock lock(mutex_);
        auto paused = [&] {
          const auto found = resources_.find(path);
          return found != resources_.end() && found->second.paused;
        };
        streams_changed_.wait_for(lock, std::chrono::milliseconds(20), [&] {
          return stopping_ || stream->drop || stream->end || Clock::now() >= stream->deadline ||
                 (!stream->queue.empty() && !paused());
        });
        if (resources_.count(path) == 0) return false;  // removeResource(): the stream goes too
        if (stopping_ || stream->drop) {
          const bool mid_event = stream->drop_mid_event && !stopping_;
          lock.unlock();
          if (mid_event) {
            const std::string half = R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"na)";
            sink.write(half.data(), half.size());
          }
          return false;  // abort: no terminating chunk
        }
        if (!stream->queue.empty() && !paused()) {
          // Everything pending, cut so that chunk boundaries never match line boundaries:
          // half of the first line, then the rest (which may hold several lines).
          std::string data;
          const std::size_t first = stream->queue.front().size();
          while (!stream->queue.empty()) {
            data += stream->queue.front();
            stream->queue.pop_front();
          }
          lock.unlock();
          const std::size_t cut = std::max<std::size_t>(1, first / 2);
          if (!sink.write(data.data(), cut)) return false;
          return sink.write(data.data() + cut, data.size() - cut);
        }
        if (stream->end || Clock::now() >= stream->deadline) {
          lock.unlock();
          sink.done();
          return true;
        }
        return true;
      },
      [this, stream, path](bool) {
        std::lock_guard lock(mutex_);
        const auto found = resources_.find(path);
        if (found == resources_.end()) return;
        auto& streams = found->second.streams;
        streams.erase(std::remove(streams.begin(), streams.end(), stream), streams.end());
      });
}

json namespaceObject(const std::string& name, const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> all = labels;
  all["kubernetes.io/metadata.name"] = name;
  return {{"kind", "Namespace"},
          {"apiVersion", "v1"},
          {"metadata", metadataFor("", name, all)},
          {"spec", {{"finalizers", {"kubernetes"}}}},
          {"status", {{"phase", "Active"}}}};
}

json podObject(const std::string& ns, const std::string& name,
               const std::map<std::string, std::string>& labels, bool with_proxy) {
  json containers = json::array(
      {{{"name", "app"},
        {"image", "registry.example/app:1.0"},
        {"ports", {{{"containerPort", 8080}, {"protocol", "TCP"}, {"name", "http"}}}}}});
  if (with_proxy) {
    containers.push_back({{"name", "istio-proxy"}, {"image", "istio/proxyv2:1.22.0"}});
  }
  return {{"kind", "Pod"},
          {"apiVersion", "v1"},
          {"metadata", metadataFor(ns, name, labels)},
          {"spec", {{"serviceAccountName", "default"}, {"containers", containers}}},
          {"status", {{"phase", "Running"}, {"podIP", "10.244.0.17"}}}};
}

json serviceObject(const std::string& ns, const std::string& name,
                   const std::map<std::string, std::string>& selector, int port, int target_port) {
  const json service_port = {
      {"name", "http"}, {"port", port}, {"targetPort", target_port}, {"protocol", "TCP"}};
  return {{"kind", "Service"},
          {"apiVersion", "v1"},
          {"metadata", metadataFor(ns, name, {})},
          {"spec", {{"selector", selector}, {"ports", json::array({service_port})}}}};
}

json peerAuthenticationObject(const std::string& ns, const std::string& name,
                              const std::string& mode,
                              const std::map<std::string, std::string>& selector) {
  json spec = {{"mtls", {{"mode", mode}}}};
  if (!selector.empty()) spec["selector"] = {{"matchLabels", selector}};
  return {{"kind", "PeerAuthentication"},
          {"apiVersion", "security.istio.io/v1"},
          {"metadata", metadataFor(ns, name, {})},
          {"spec", spec}};
}

json destinationRuleObject(const std::string& ns, const std::string& name, const std::string& host,
                           const std::string& tls_mode) {
  return {{"kind", "DestinationRule"},
          {"apiVersion", "networking.istio.io/v1"},
          {"metadata", metadataFor(ns, name, {})},
          {"spec", {{"host", host}, {"trafficPolicy", {{"tls", {{"mode", tls_mode}}}}}}}};
}

}  // namespace peergate::testing
