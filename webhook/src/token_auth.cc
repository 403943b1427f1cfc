#include "peergate/webhook/token_auth.h"

#include <fstream>
#include <sstream>

#include "digest.h"
#include "kube_client.h"

namespace peergate::webhook {
namespace {

using validation::Error;

constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";
constexpr std::size_t kMaxTokenFileBytes = std::size_t{4} << 20;

Error tokensError(std::string code, const std::string& file, int line, std::string message) {
  Error error;
  error.code = std::move(code);
  error.file = file;
  error.line = line;
  error.message = std::move(message);
  return error;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// The first two CSV fields: the token and the user (quotes allowed, as the API server's reader).
std::optional<std::pair<std::string, std::string>> tokenAndUser(std::string_view line) {
  std::string fields[2];
  std::size_t index = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size() && index < 2; ++i) {
    const char c = line[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      ++index;
    } else {
      fields[index].push_back(c);
    }
  }
  if (index < 1) return std::nullopt;
  return std::make_pair(std::string(trim(fields[0])), std::string(trim(fields[1])));
}

AuthOutcome rejected(std::string message) {
  return {AuthOutcome::Status::Rejected, {}, std::move(message)};
}

AuthOutcome outcomeForUser(const std::string& user) {
  auto account = parseServiceAccountUser(user);
  if (!account) {
    return rejected("the token belongs to \"" + user +
                    "\", not to a service account; proxies authenticate with their pod's "
                    "service-account token");
  }
  AuthOutcome outcome{AuthOutcome::Status::Authenticated, {}, ""};
  outcome.caller.namespace_name = account->first;
  outcome.caller.service_account = account->second;
  return outcome;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parseServiceAccountUser(std::string_view user) {
  if (user.substr(0, kServiceAccountPrefix.size()) != kServiceAccountPrefix) return std::nullopt;
  user.remove_prefix(kServiceAccountPrefix.size());
  const std::size_t colon = user.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == user.size() ||
      user.find(':', colon + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::make_pair(std::string(user.substr(0, colon)), std::string(user.substr(colon + 1)));
}

validation::Result<std::unique_ptr<StaticTokenAuthenticator>> StaticTokenAuthenticator::parse(
    std::string_view text, const std::string& file) {
  auto authenticator = std::make_unique<StaticTokenAuthenticator>();
  int line_number = 0;
  std::istringstream lines{std::string(text)};
  for (std::string raw; std::getline(lines, raw);) {
    ++line_number;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto fields = tokenAndUser(line);
    if (!fields || fields->first.empty() || fields->second.empty()) {
      return tokensError("tokens.syntax", file, line_number,
                         "expected `token,user,uid[,\"groups\"]` (CSV, as the API server's "
                         "--token-auth-file)");
    }
    if (!authenticator->users_.emplace(fields->first, fields->second).second) {
      return tokensError("tokens.duplicate", file, line_number,
                         "this token is listed twice; every token must be unique");
    }
  }
  return authenticator;
}

validation::Result<std::unique_ptr<StaticTokenAuthenticator>> StaticTokenAuthenticator::load(
    const std::string& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream text;
  text << stream.rdbuf();
  if (!stream || stream.bad()) {
    return tokensError("tokens.read", file, 0, "cannot read the token file");
  }
  if (text.str().size() > kMaxTokenFileBytes) {
    return tokensError("tokens.size", file, 0, "larger than 4 MiB");
  }
  return parse(text.str(), file);
}

AuthOutcome StaticTokenAuthenticator::authenticate(const std::string& token) {
  auto it = users_.find(token);
  if (it == users_.end()) return rejected("unknown token");
  return outcomeForUser(it->second);
}

AuthOutcome tokenReviewOutcome(const nlohmann::json& reply, const std::string& audience) {
  const nlohmann::json status = reply.value("status", nlohmann::json::object());
  if (!status.is_object() || !status.value("authenticated", false)) {
    const std::string why = status.is_object() ? status.value("error", "") : "";
    return rejected("the API server did not authenticate the token" +
                    (why.empty() ? std::string() : ": " + why));
  }
  const nlohmann::json audiences = status.value("audiences", nlohmann::json::array());
  bool has_audience = false;
  for (const auto& entry : audiences) has_audience |= entry == audience;
  if (!has_audience) {
    return rejected("the token is not issued for audience \"" + audience +
                    "\"; mount a projected token with that audience");
  }
  const nlohmann::json user = status.value("user", nlohmann::json::object());
  AuthOutcome outcome = outcomeForUser(user.is_object() ? user.value("username", "") : "");
  if (outcome.status != AuthOutcome::Status::Authenticated) return outcome;
  const nlohmann::json extra = user.value("extra", nlohmann::json::object());
  auto pod = extra.find("authentication.kubernetes.io/pod-name");
  if (pod != extra.end() && pod->is_array() && !pod->empty() && (*pod)[0].is_string()) {
    outcome.caller.pod_name = (*pod)[0].get<std::string>();
  }
  return outcome;
}

TokenReviewAuthenticator::TokenReviewAuthenticator(std::shared_ptr<KubeClient> client,
                                                   TokenReviewOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

AuthOutcome TokenReviewAuthenticator::authenticate(const std::string& token) {
  const std::string key = sha256Hex(token);
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now - it->second.first < options_.cache_ttl) return it->second.second;
  }
  AuthOutcome outcome = review(token);
  if (outcome.status == AuthOutcome::Status::Unavailable) return outcome;
  std::lock_guard lock(mutex_);
  if (cache_.size() >= options_.max_cached) cache_.clear();  // bounded; a refill costs one call
  cache_[key] = {now, outcome};
  return outcome;
}

AuthOutcome TokenReviewAuthenticator::review(const std::string& token) {
  const nlohmann::json request = {
      {"apiVersion", "authentication.k8s.io/v1"},
      {"kind", "TokenReview"},
      {"spec", {{"token", token}, {"audiences", nlohmann::json::array({options_.audience})}}}};
  KubeClient::CreateResult result =
      client_->create("/apis/authentication.k8s.io/v1/tokenreviews", request);
  if (result.error) {
    return {
        AuthOutcome::Status::Unavailable, {}, "TokenReview failed: " + result.error->describe()};
  }
  return tokenReviewOutcome(result.object, options_.audience);
}

}  // namespace peergate::webhook
