#include "peergate/proxy/control_plane_client.h"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "peergate/identity/certificate.h"
#include "peergate/identity/csr.h"
#include "peergate/identity/keys.h"
#include "peergate/identity/spiffe.h"

namespace peergate::proxy {
namespace {

using nlohmann::json;
using SystemClock = std::chrono::system_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxTokenBytes = 64 * 1024;

std::string readToken(const std::string& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  std::string token = text.str().substr(0, kMaxTokenBytes);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

struct HostPort {
  std::string host;
  int port = 0;
};

std::optional<HostPort> splitAddress(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int port = std::atoi(address.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return std::nullopt;
  return HostPort{host, port};
}

// "503 unavailable: the cluster state is not loaded yet" from an error reply.
std::string describeReply(const httplib::Result& result) {
  if (!result) return "cannot reach the control plane: " + httplib::to_string(result.error());
  const json body = json::parse(result->body, nullptr, false);
  std::string text = "HTTP " + std::to_string(result->status);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    text += " " + body["error"].value("code", "") + ": " + body["error"].value("message", "");
  }
  return text;
}

}  // namespace

struct ControlPlaneClient::Fetched {
  std::shared_ptr<const ProxyPolicy> policy;
  std::string version;
  std::string roots;
};

struct ControlPlaneClient::Identity {
  std::string cert_pem;
  std::string key_pem;
  std::string roots;
};

ControlPlaneClient::ControlPlaneClient(const ProxyOptions& options, ProxyStats& stats)
    : options_(options), stats_(stats) {
  // httplib writes with SSL_write on a plain socket: a control plane that closes first would
  // otherwise kill the proxy with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
}

ControlPlaneClient::~ControlPlaneClient() { stop(); }

std::shared_ptr<const ProxyPolicy> ControlPlaneClient::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

std::shared_ptr<const TlsContexts> ControlPlaneClient::tls() const {
  std::lock_guard lock(mutex_);
  return tls_;
}

int ControlPlaneClient::certificatesIssued() const {
  std::lock_guard lock(mutex_);
  return issued_;
}

bool ControlPlaneClient::pause(milliseconds duration) {
  std::unique_lock lock(wait_mutex_);
  return !wake_.wait_for(lock, duration, [this] { return stopping_.load(); });
}

std::optional<std::string> ControlPlaneClient::fetchPolicy(int wait_seconds, Fetched& fetched) {
  const std::optional<HostPort> target = splitAddress(options_.control_plane.address);
  if (!target) return "bad control-plane address " + options_.control_plane.address;
  auto client = std::make_shared<httplib::SSLClient>(target->host, target->port);
  client->set_ca_cert_path(options_.control_plane.ca_file.c_str());
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(std::chrono::seconds(5));
  // The server answers by `wait_seconds`; past a short margin the connection is presumed lost
  // (e.g. its replies diverted by rules loaded after it opened) and the poll starts over.
  client->set_read_timeout(std::chrono::seconds(wait_seconds + 5));
  {
    std::lock_guard lock(clients_mutex_);
    if (stopping_) return "stopping";
    clients_.push_back(client);
  }
  std::string path = "/v1/policy?pod=" + options_.pod_namespace + "/" + options_.pod_name +
                     "&waitSeconds=" + std::to_string(wait_seconds);
  {
    std::lock_guard lock(mutex_);
    if (!version_.empty()) path += "&version=" + version_;
  }
  const httplib::Headers headers = {
      {"Authorization", "Bearer " + readToken(options_.control_plane.token_file)}};
  httplib::Result result = client->Get(path, headers);
  {
    std::lock_guard lock(clients_mutex_);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), client), clients_.end());
  }
  if (!result || result->status != 200) return describeReply(result);
  const json body = json::parse(result->body, nullptr, false);
  validation::Result<ProxyPolicy> decoded = validation::dataplanePolicyFromJson(body);
  if (!decoded) return "policy feed: " + decoded.error().message;
  fetched.policy = std::make_shared<const ProxyPolicy>(std::move(decoded).value());
  fetched.version = body.value("version", "");
  fetched.roots = body.value("rootCertificates", "");
  return std::nullopt;
}

std::optional<std::string> ControlPlaneClient::fetchCertificate(const ProxyPolicy& policy,
                                                                Identity& identity) {
  auto key = identity::generateKey(identity::KeyType::EcdsaP256);
  if (!key) return key.error().message;
  const identity::SpiffeId id{policy.trust_domain, policy.pod_namespace, policy.service_account};
  auto csr = identity::makeWorkloadCsr(key.value().get(), id);
  if (!csr) return csr.error().message;
  auto csr_pem = identity::csrPem(csr.value().get());
  auto key_pem = identity::privateKeyPem(key.value().get());
  if (!csr_pem || !key_pem) return "cannot encode the CSR or the key";
  const std::optional<HostPort> target = splitAddress(options_.control_plane.address);
  if (!target) return "bad control-plane address " + options_.control_plane.address;
  httplib::SSLClient client(target->host, target->port);
  client.set_ca_cert_path(options_.control_plane.ca_file.c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(15));
  const httplib::Headers headers = {
      {"Authorization", "Bearer " + readToken(options_.control_plane.token_file)}};
  httplib::Result result = client.Post("/v1/certificates", headers,
                                       json{{"csr", csr_pem.value()}}.dump(), "application/json");
  if (!result || result->status != 200) return describeReply(result);
  const json body = json::parse(result->body, nullptr, false);
  if (!body.is_object() || !body.contains("certificateChain")) return "CA: malformed reply";
  identity.cert_pem = body.value("certificateChain", "");
  identity.roots = body.value("rootCertificates", "");
  identity.key_pem = std::move(key_pem).value();
  return std::nullopt;
}

bool ControlPlaneClient::applyPolicy(Fetched fetched) {
  bool roots_changed = false;
  {
    std::lock_guard lock(mutex_);
    roots_changed = !roots_.empty() && !fetched.roots.empty() && fetched.roots != roots_;
    if (fetched.version == version_ && !roots_changed) return false;
    spdlog::info("policy {} from the control plane: {}; {} destinations with a proxy",
                 fetched.version, describeModes(*fetched.policy),
                 fetched.policy->peers->proxied_peers.size());
    policy_ = std::move(fetched.policy);
    version_ = std::move(fetched.version);
    if (roots_changed) {
      spdlog::info("the mesh trust bundle changed: renewing the certificate");
      renew_now_ = true;
    }
  }
  if (roots_changed) {
    // Taken so the rotation thread is either before its check or already waiting.
    std::lock_guard wait_lock(wait_mutex_);
    wake_.notify_all();
  }
  return true;
}

bool ControlPlaneClient::renewCertificate(std::string& error) {
  const std::shared_ptr<const ProxyPolicy> current = policy();
  Identity identity;
  if (auto failure = fetchCertificate(*current, identity)) {
    error = *failure;
    return false;
  }
  std::shared_ptr<const TlsContexts> contexts = TlsContexts::fromPem(
      identity.cert_pem, identity.key_pem, identity.roots, "control plane", error);
  if (!contexts) return false;
  const auto now = SystemClock::now();
  const auto not_after = contexts->info().not_after;
  stats_.setCertExpiry(not_after);
  spdlog::info("certificate issued by the control plane: {} until {}", contexts->info().spiffe_id,
               identity::isoTime(not_after));
  std::lock_guard lock(mutex_);
  tls_ = std::move(contexts);
  roots_ = identity.roots;
  renew_at_ = now + (not_after - now) / 2;
  renew_now_ = false;
  ++issued_;
  return true;
}

bool ControlPlaneClient::loadInitial(std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + options_.control_plane.startup_timeout;
  milliseconds backoff(250);
  std::string last;
  for (;;) {
    Fetched fetched;
    std::optional<std::string> failure = fetchPolicy(0, fetched);
    if (!failure) {
      {
        std::lock_guard lock(mutex_);
        policy_ = fetched.policy;
        version_ = fetched.version;
      }
      std::string cert_error;
      if (renewCertificate(cert_error)) return true;
      failure = "certificate: " + cert_error;
    }
    if (*failure != last) spdlog::warn("control plane not ready: {}", *failure);
    last = *failure;
    if (std::chrono::steady_clock::now() + backoff >= deadline || !pause(backoff)) {
      error = "no policy and certificate from " + options_.control_plane.address + " within " +
              std::to_string(options_.control_plane.startup_timeout.count() / 1000) + " s: " + last;
      return false;
    }
    backoff = std::min(backoff * 2, options_.control_plane.max_backoff);
  }
}

void ControlPlaneClient::feedLoop() {
  milliseconds backoff(500);
  while (!stopping_) {
    Fetched fetched;
    const std::optional<std::string> failure =
        fetchPolicy(static_cast<int>(options_.control_plane.feed_wait.count()), fetched);
    if (stopping_) return;
    if (!failure) {
      applyPolicy(std::move(fetched));
      backoff = milliseconds(500);
      continue;
    }
    spdlog::warn("policy feed: {}; keeping the current policy, retrying in {} ms", *failure,
                 backoff.count());
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.control_plane.max_backoff);
  }
}

void ControlPlaneClient::rotationLoop() {
  milliseconds backoff(500);
  std::unique_lock lock(wait_mutex_);
  while (!stopping_) {
    SystemClock::time_point renew_at;
    {
      std::lock_guard state(mutex_);
      renew_at = renew_now_ ? SystemClock::now() : renew_at_;
    }
    if (SystemClock::now() < renew_at) {
      // Woken early by a trust-bundle change (renew_now_) or stop().
      wake_.wait_until(lock, renew_at);
      continue;
    }
    lock.unlock();
    std::string error;
    const bool renewed = renewCertificate(error);
    lock.lock();
    if (renewed) {
      backoff = milliseconds(500);
      continue;
    }
    spdlog::warn("certificate renewal failed; serving with the current one, retrying in {} ms: {}",
                 backoff.count(), error);
    wake_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.control_plane.max_backoff);
  }
}

void ControlPlaneClient::startWatching() {
  std::lock_guard lock(wait_mutex_);
  if (feed_thread_.joinable() || stopping_) return;
  feed_thread_ = std::thread([this] { feedLoop(); });
  rotation_thread_ = std::thread([this] { rotationLoop(); });
}

void ControlPlaneClient::stop() {
  {
    std::lock_guard lock(wait_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  {
    std::lock_guard lock(clients_mutex_);
    for (const auto& client : clients_) client->stop();
  }
  if (feed_thread_.joinable()) feed_thread_.join();
  if (rotation_thread_.joinable()) rotation_thread_.join();
}

}  // namespace peergate::proxy
