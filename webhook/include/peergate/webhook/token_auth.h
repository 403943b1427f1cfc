#pragma once

// Who is calling the control plane: a proxy proves its pod's identity with the pod's
// service-account token (projected, audience "peergate-ca"). In a cluster the API server decides
// (TokenReview); in the local mode a static token file does, in the format of the API server's
// own --token-auth-file.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "peergate/validation/result.h"

namespace peergate::webhook {

class KubeClient;

// A workload's Kubernetes identity, as a service-account token establishes it.
struct Caller {
  std::string namespace_name;
  std::string service_account;
  std::string pod_name;  // "" unless the token is bound to a pod
};

struct AuthOutcome {
  enum class Status { Authenticated, Rejected, Unavailable };
  Status status = Status::Rejected;
  Caller caller;
  std::string message;  // why not (Rejected: for the caller; Unavailable: for the operator)
};

class TokenAuthenticator {
 public:
  virtual ~TokenAuthenticator() = default;
  virtual AuthOutcome authenticate(const std::string& token) = 0;
};

// "system:serviceaccount:NS:SA" → {NS, SA}; nullopt for any other user name.
std::optional<std::pair<std::string, std::string>> parseServiceAccountUser(std::string_view user);

// Kubernetes' static token file: one `token,user,uid[,"group1,group2"]` per line (CSV, blank
// lines and # comments skipped). Only service-account users can call the control plane; other
// lines are kept but rejected when used.
class StaticTokenAuthenticator final : public TokenAuthenticator {
 public:
  // Error "tokens.*" naming the file and line.
  static validation::Result<std::unique_ptr<StaticTokenAuthenticator>> parse(
      std::string_view text, const std::string& file);
  static validation::Result<std::unique_ptr<StaticTokenAuthenticator>> load(
      const std::string& file);

  AuthOutcome authenticate(const std::string& token) override;
  std::size_t size() const { return users_.size(); }

 private:
  std::map<std::string, std::string> users_;  // token → user name
};

struct TokenReviewOptions {
  std::string audience = "peergate-ca";  // the token must have been issued for us
  std::chrono::seconds cache_ttl{60};    // a verdict is reused this long (per token hash)
  std::size_t max_cached = 10000;
};

// Asks the API server (POST /apis/authentication.k8s.io/v1/tokenreviews). A token that is not
// authenticated, lacks our audience or is not a service account's is Rejected; an API server
// that cannot answer is Unavailable (the caller retries). Verdicts are cached by SHA-256 of the
// token, never the token itself.
class TokenReviewAuthenticator final : public TokenAuthenticator {
 public:
  TokenReviewAuthenticator(std::shared_ptr<KubeClient> client, TokenReviewOptions options);
  AuthOutcome authenticate(const std::string& token) override;

 private:
  using Clock = std::chrono::steady_clock;
  AuthOutcome review(const std::string& token);

  std::shared_ptr<KubeClient> client_;
  const TokenReviewOptions options_;
  std::mutex mutex_;
  std::map<std::string, std::pair<Clock::time_point, AuthOutcome>> cache_;
};

// The verdict of a TokenReview reply (kubernetes-wire.md §6), for `audience`.
AuthOutcome tokenReviewOutcome(const nlohmann::json& reply, const std::string& audience);

}  // namespace peergate::webhook
