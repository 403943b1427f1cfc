// AdmissionHandler: checks the HTTP envelope (route, Content-Type, size, JSON), decodes the
// AdmissionReview, runs the route's handler and writes the reply. Nothing escapes: a fault
// anywhere becomes an errored reply with code 500.

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <utility>

#include "admission_review.h"
#include "peergate/webhook/admission.h"
#include "plain_json.h"
#include "review_cache.h"

namespace peergate::webhook {
namespace {

using RouteFn = AdmissionResponse (*)(const AdmissionContext&, const AdmissionRequest&,
                                      AdmissionOutcome&);

struct Route {
  std::string_view path;
  std::string_view webhook;  // AdmissionOutcome::webhook
  RouteFn run;
};

constexpr std::array kRoutes = {
    Route{"/validate", "validate", validateAdmission},
    Route{"/mutate", "mutate", mutateAdmission},
    Route{"/inject", "inject", injectAdmission},
};

// Bodies this many times over the limit are not even parsed to find the uid.
constexpr std::size_t kParseOverLimitFactor = 4;

const Route* findRoute(std::string_view path) {
  const auto it = std::find_if(kRoutes.begin(), kRoutes.end(),
                               [path](const Route& route) { return route.path == path; });
  return it == kRoutes.end() ? nullptr : &*it;
}

std::string servedRoutes() {
  std::string out;
  for (const Route& route : kRoutes) out += (out.empty() ? "" : ", ") + std::string(route.path);
  return out;
}

// "application/json", any case, parameters such as "; charset=utf-8" allowed.
bool isJsonMediaType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) {
    media.remove_prefix(1);
  }
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) {
    media.remove_suffix(1);
  }
  constexpr std::string_view kJson = "application/json";
  return std::equal(media.begin(), media.end(), kJson.begin(), kJson.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == b;
  });
}

// The JSON body, or a 400 reply saying where it stops being JSON.
std::optional<AdmissionResponse> parseBody(std::string_view body, nlohmann::json& out) {
  try {
    out = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    const auto bracket = what.find("] ");
    if (bracket != std::string::npos) what.erase(0, bracket + 2);
    return errorResponse(400, "the body is not JSON: " + what);
  }
  return std::nullopt;
}

// Problems of the HTTP envelope, most fundamental first; decoding still ran (when the body was
// small enough) so the reply can echo the uid. `within_depth`: the nesting is known to be within
// kMaxJsonDepth, so the body need not be scanned for it.
std::optional<AdmissionResponse> envelopeProblem(std::string_view content_type,
                                                 std::string_view body, const WebhookConfig& config,
                                                 bool within_depth) {
  if (body.size() > config.max_request_bytes) {
    return errorResponse(413, "request entity is too large: " + std::to_string(body.size()) +
                                  " bytes, the limit is " +
                                  std::to_string(config.max_request_bytes));
  }
  if (!isJsonMediaType(content_type)) {
    return errorResponse(
        415, "Content-Type must be application/json, not \"" + std::string(content_type) + "\"");
  }
  if (!within_depth && jsonNestingDepth(body) > kMaxJsonDepth) {
    return errorResponse(400, "the body nests deeper than " + std::to_string(kMaxJsonDepth) +
                                  " levels; no Kubernetes object does");
  }
  return std::nullopt;
}

// Parses and decodes as much as it can; the first problem wins.
std::optional<AdmissionResponse> readReview(std::string_view content_type, std::string_view body,
                                            const WebhookConfig& config,
                                            AdmissionRequest& request) {
  if (body.size() > config.max_request_bytes * kParseOverLimitFactor) {
    return envelopeProblem(content_type, body, config, false);
  }
  // The body as the API server writes it, read by the plain reader, which also bounds its depth.
  std::optional<nlohmann::json> plain = parsePlainJson(body, kMaxJsonDepth);
  std::optional<AdmissionResponse> problem =
      envelopeProblem(content_type, body, config, plain.has_value());
  nlohmann::json review;
  std::optional<AdmissionResponse> unreadable;
  if (plain) {
    review = std::move(*plain);
  } else {
    unreadable = parseBody(body, review);
  }
  if (!unreadable) unreadable = decodeAdmissionReview(review, request);
  return problem ? problem : unreadable;
}

AdmissionResponse respond(const AdmissionContext& context, std::string_view route,
                          std::string_view content_type, std::string_view body,
                          AdmissionRequest& request, AdmissionOutcome& outcome) {
  const Route* target = findRoute(route);
  if (target) outcome.webhook = std::string(target->webhook);
  if (auto problem = readReview(content_type, body, context.config, request)) return *problem;
  if (!target) {
    return errorResponse(404, "peergate serves " + servedRoutes() + ", not \"" +
                                  std::string(route) + "\"; check the webhook's clientConfig path");
  }
  AdmissionResponse response = target->run(context, request, outcome);
  // The API server refuses a patch from a validating webhook, and any patch on DELETE.
  if (target->run == validateAdmission || request.operation == "DELETE") response.patch.clear();
  return response;
}

void recordOutcome(const AdmissionRequest& request, const AdmissionResponse& response,
                   AdmissionOutcome& outcome) {
  outcome.uid = request.uid;
  outcome.kind = request.kind.kind;
  outcome.namespace_name = request.namespace_name;
  if (outcome.name.empty()) outcome.name = request.name;
  outcome.operation = request.operation;
  outcome.user = request.username;
  outcome.dry_run = request.dry_run;
  outcome.allowed = response.allowed;
  outcome.error = response.error;
  outcome.message = response.allowed ? "" : oneLine(response.message, kMaxMessageBytes);
}

AdmissionReply reply(const AdmissionRequest& request, const AdmissionResponse& response,
                     AdmissionOutcome outcome) {
  recordOutcome(request, response, outcome);
  AdmissionReply out;
  out.http_status = request.uid.empty() ? 400 : 200;  // no uid: not an AdmissionReview call
  out.body = encodeAdmissionReview(request, response);
  out.outcome = std::move(outcome);
  return out;
}

// The last resort when even writing the reply failed (e.g. out of memory).
AdmissionReply internalErrorReply() {
  AdmissionReply out;
  out.http_status = 500;
  out.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":500,)"
             R"("reason":"InternalError","message":"peergate could not write a reply"})";
  out.outcome.error = AdmissionError::Internal;
  out.outcome.message = "could not write a reply";
  return out;
}

}  // namespace

std::string_view toString(AdmissionError error) {
  switch (error) {
    case AdmissionError::None:
      return "";
    case AdmissionError::BadRequest:
      return "bad_request";
    case AdmissionError::BodyTooLarge:
      return "body_too_large";
    case AdmissionError::BodyRead:
      return "body_read";
    case AdmissionError::StateUnavailable:
      return "state_unavailable";
    case AdmissionError::Internal:
      return "internal";
    case AdmissionError::UnknownRoute:
      return "unknown_route";
  }
  return "internal";
}

std::vector<std::string> AdmissionOutcome::findingCodes(std::string_view action) const {
  std::vector<std::string> codes;
  for (const AppliedFinding& finding : findings) {
    if (action.empty() || finding.action == action) codes.push_back(finding.code);
  }
  return codes;
}

AdmissionHandler::AdmissionHandler(const StateStore& state, WebhookConfig config)
    : state_(state), config_(std::move(config)), reviews_(std::make_shared<ReviewCache>()) {}

AdmissionReply AdmissionHandler::handle(std::string_view route, std::string_view content_type,
                                        std::string_view body) const {
  AdmissionRequest request;
  AdmissionOutcome outcome;
  AdmissionResponse response;
  try {
    response = respond(AdmissionContext{state_, config_, reviews_.get()}, route, content_type, body,
                       request, outcome);
  } catch (const std::exception& e) {
    response = errorResponse(500, std::string("internal error: ") + e.what());
  } catch (...) {
    response = errorResponse(500, "internal error");
  }
  try {
    return reply(request, response, std::move(outcome));
  } catch (...) {
    return internalErrorReply();
  }
}

}  // namespace peergate::webhook
