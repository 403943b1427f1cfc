// POST /validate: the migration-safety gate. Runs plan(current state, state with this change)
// and refuses changes that introduce a finding configured to deny.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <type_traits>
#include <utility>

#include "admission_review.h"
#include "peergate/validation/plan.h"
#include "peergate/validation/validate.h"
#include "review_cache.h"

namespace peergate::webhook {
namespace {

using validation::ClusterState;
using validation::Finding;
using validation::FindingCode;
using validation::Inputs;
using validation::ObjectRef;

constexpr std::string_view kAllowAnnotation = "peergate.io/allow";
constexpr std::string_view kReasonAnnotation = "peergate.io/reason";
constexpr std::size_t kMaxNamesInWarning = 1;

// ---- What the request proposes ----

struct Change {
  std::optional<RequestObject> object;      // CREATE, UPDATE
  std::optional<RequestObject> old_object;  // UPDATE, DELETE (when the API server sent it)
  ObjectRef ref;
  bool update = false;
};

std::optional<AdmissionResponse> checkRequest(const AdmissionRequest& request) {
  static const std::set<std::string> kKinds = {"PeerAuthentication", "DestinationRule",
                                               "Namespace"};
  if (!kKinds.count(request.kind.kind)) {
    return errorResponse(400,
                         "/validate handles PeerAuthentication, DestinationRule and "
                         "Namespace, not \"" +
                             request.kind.kind + "\"; check the webhook's rules");
  }
  const std::string& op = request.operation;
  if (op != "CREATE" && op != "UPDATE" && op != "DELETE") {
    return errorResponse(400, "/validate handles CREATE, UPDATE and DELETE, not \"" + op + "\"");
  }
  if (op != "DELETE" && request.object.is_null()) {
    return errorResponse(400, "request.object is missing for " + op);
  }
  return std::nullopt;
}

std::optional<AdmissionResponse> decodeChange(const AdmissionRequest& request, Change& change) {
  change.update = request.operation == "UPDATE";
  if (!request.object.is_null()) {
    change.object.emplace();
    if (auto problem = decodeRequestObject(request, request.object, *change.object)) {
      return problem;
    }
    change.ref = change.object->ref;
  }
  if (!request.old_object.is_null()) {
    change.old_object.emplace();
    if (auto problem = decodeRequestObject(request, request.old_object, *change.old_object)) {
      return problem;
    }
    if (!change.object) change.ref = change.old_object->ref;
  }
  if (!change.object && !change.old_object) {
    const bool cluster_scoped = request.kind.kind == "Namespace";
    change.ref = {request.kind.kind, cluster_scoped ? "" : request.namespace_name, request.name};
  }
  return std::nullopt;
}

// ---- The state before and after ----

std::set<std::string> namespacesWithin(const ClusterState& snapshot, const Reach& reach) {
  std::set<std::string> namespaces = reach.namespaces;
  namespaces.insert(snapshot.mesh().root_namespace);
  return namespaces;
}

// a.ref() == b.ref() for two objects of a kind whose ref names a fixed kind, without building
// either ref.
template <typename T>
bool sameObject(const T& a, const T& b) {
  static_assert(!std::is_same_v<T, validation::Workload>, "a workload's ref carries its kind");
  if constexpr (std::is_same_v<T, validation::Namespace>) {
    return a.meta.name == b.meta.name;  // cluster-scoped: the ref has no namespace
  } else {
    return a.meta.name == b.meta.name && a.meta.namespace_name == b.meta.namespace_name;
  }
}

template <typename T>
void upsert(std::vector<const T*>& current, const std::vector<T>& incoming, bool keep_created,
            std::vector<std::shared_ptr<const void>>& owners) {
  for (const T& object : incoming) {
    auto copy = std::make_shared<T>(object);
    owners.push_back(copy);
    const auto same = std::find_if(current.begin(), current.end(), [&](const T* existing) {
      return sameObject(*existing, object);
    });
    if (same == current.end()) {
      current.push_back(copy.get());
      continue;
    }
    if (keep_created && copy->meta.creation_timestamp.empty()) {
      copy->meta.creation_timestamp = (*same)->meta.creation_timestamp;
    }
    *same = copy.get();
  }
}

template <typename T, typename Pred>
void eraseIf(std::vector<const T*>& objects, Pred pred) {
  objects.erase(std::remove_if(objects.begin(), objects.end(), pred), objects.end());
}

// Drops the object; deleting a Namespace also drops everything in it.
void eraseObject(validation::ObjectSelection& objects, const ObjectRef& ref) {
  auto same = [&ref](const auto* object) { return object->ref() == ref; };
  eraseIf(objects.peer_authentications, same);
  eraseIf(objects.destination_rules, same);
  eraseIf(objects.namespaces, same);
  if (ref.kind == "Namespace") {
    auto inside = [&ref](const auto* object) { return object->meta.namespace_name == ref.name; };
    eraseIf(objects.peer_authentications, inside);
    eraseIf(objects.destination_rules, inside);
    eraseIf(objects.workloads, inside);
    eraseIf(objects.services, inside);
  }
}

std::vector<std::string> hostLabels(std::string_view host) {
  std::vector<std::string> labels;
  while (!host.empty()) {
    const std::size_t dot = std::min(host.find('.'), host.size());
    labels.emplace_back(host.substr(0, dot));
    host.remove_prefix(std::min(dot + 1, host.size()));
  }
  return labels;
}

// Selects the namespace `ns` and what lives in it: policies, workloads (with the pods and
// ReplicaSets folded into them) and services.
void selectNamespace(const ClusterState& snapshot, const std::string& ns,
                     validation::ObjectSelection& out) {
  if (const validation::Namespace* object = snapshot.findNamespace(ns)) {
    out.namespaces.push_back(object);
  }
  const auto& policies = snapshot.policiesIn(ns);
  out.peer_authentications.insert(out.peer_authentications.end(), policies.begin(), policies.end());
  for (const validation::Workload* workload : snapshot.workloadsIn(ns)) {
    out.workloads.push_back(workload);
    const auto& instances = snapshot.instancesOf(*workload);
    out.workloads.insert(out.workloads.end(), instances.begin(), instances.end());
  }
  const auto& services = snapshot.servicesIn(ns);
  out.services.insert(out.services.end(), services.begin(), services.end());
}

template <typename T>
std::vector<T> copies(const std::vector<const T*>& objects) {
  std::vector<T> out;
  out.reserve(objects.size());
  for (const T* object : objects) out.push_back(*object);
  return out;
}

struct States {
  std::unique_ptr<ClusterState> owned_before;  // when the request's oldObject refines it
  const ClusterState* before = nullptr;        // nullptr when not asked for
  std::unique_ptr<ClusterState> after;
};

Reach reachOf(const ClusterState& snapshot, const Change& change) {
  Reach reach;
  for (const std::optional<RequestObject>* object : {&change.object, &change.old_object}) {
    if (*object) reach.add(**object, snapshot.mesh());
  }
  if (!change.object && !change.old_object) reach.add(change.ref, snapshot.mesh());
  return reach;
}

// before = the part of the snapshot the change reaches, with the request's oldObject in place
// (it is fresher than any watch); after = before with the change applied. Both read the
// snapshot's objects in place. Without `with_before`, only `after` is built.
States proposedStates(const StateStore::Snapshot& snapshot, const Change& change,
                      const Reach& reach, bool with_before) {
  States states;
  StateParts parts{selectionWithin(*snapshot, reach), {snapshot}};
  if (change.old_object) putObject(parts, *change.old_object, true);
  if (with_before && reach.everything && !change.old_object) {
    states.before = snapshot.get();
  } else if (with_before) {
    states.owned_before = std::make_unique<ClusterState>(parts.objects, snapshot->mesh(),
                                                         parts.owners, snapshot.get());
    standForSnapshot(*states.owned_before, *snapshot, reach);
    states.before = states.owned_before.get();
  }
  if (change.object) {
    putObject(parts, *change.object, change.update);
  } else {
    eraseObject(parts.objects, change.ref);
  }
  states.after = std::make_unique<ClusterState>(std::move(parts.objects), snapshot->mesh(),
                                                std::move(parts.owners), snapshot.get());
  standForSnapshot(*states.after, *snapshot, reach);
  return states;
}

// The scope a CREATE's `before` analysis is shared under (review_cache.h); nullopt when it is
// not shared: an oldObject makes `before` the request's own, and a mesh-wide change's `before`
// is the whole cluster, too large to keep.
std::optional<std::set<std::string>> sharedScope(const AdmissionContext& context,
                                                 const ClusterState& snapshot, const Change& change,
                                                 const Reach& reach) {
  if (!context.reviews || change.old_object || reach.everything) return std::nullopt;
  return namespacesWithin(snapshot, reach);
}

validation::Plan planChange(const AdmissionContext& context, const StateStore::Snapshot& snapshot,
                            const Change& change) {
  const Reach reach = reachOf(*snapshot, change);
  const auto scope = sharedScope(context, *snapshot, change, reach);
  std::shared_ptr<const validation::Analysis> before =
      scope ? context.reviews->find(snapshot, *scope) : nullptr;
  const States states = proposedStates(snapshot, change, reach, before == nullptr);
  if (!before && !scope) return validation::plan(*states.before, *states.after);
  if (!before) {
    before = std::make_shared<const validation::Analysis>(validation::analyze(*states.before));
    context.reviews->put(snapshot, *scope, before);
  }
  return validation::plan(*before, *states.after);
}

// ---- Exceptions: peergate.io/allow + peergate.io/reason ----

struct Exception {
  bool present = false;
  std::set<FindingCode> codes;
  std::vector<std::string> unknown;  // entries that are not finding codes
  std::string reason;
};

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

Exception readException(const validation::Labels& annotations) {
  static const std::string kAllowKey(kAllowAnnotation);    // the map's key type: no copy per
  static const std::string kReasonKey(kReasonAnnotation);  // lookup
  Exception exception;
  const auto allow = annotations.find(kAllowKey);
  if (allow == annotations.end() || trim(allow->second).empty()) return exception;
  exception.present = true;
  std::string_view rest = allow->second;
  while (!rest.empty()) {
    const std::size_t comma = std::min(rest.find(','), rest.size());
    const std::string entry = trim(rest.substr(0, comma));
    rest.remove_prefix(std::min(comma + 1, rest.size()));
    if (entry.empty()) continue;
    if (const auto code = validation::parseCode(entry)) {
      exception.codes.insert(*code);
    } else {
      exception.unknown.push_back(entry);
    }
  }
  if (const auto reason = annotations.find(kReasonKey); reason != annotations.end()) {
    exception.reason = trim(reason->second);
  }
  return exception;
}

// ---- From findings to a verdict ----

struct Verdict {
  std::vector<const Finding*> denials;
  std::vector<const Finding*> excepted;  // would deny, admitted by peergate.io/allow
  std::vector<const Finding*> warnings;
};

Verdict classify(const std::vector<Finding>& introduced, const WebhookConfig& config,
                 const Exception& exception) {
  Verdict verdict;
  for (const Finding& finding : introduced) {
    switch (config.actionFor(finding)) {
      case FindingAction::Deny:
        (exception.codes.count(finding.code) ? verdict.excepted : verdict.denials)
            .push_back(&finding);
        break;
      case FindingAction::Warn:
        verdict.warnings.push_back(&finding);
        break;
      case FindingAction::Off:
        break;
    }
  }
  return verdict;
}

std::string refText(const ObjectRef& ref) {
  return ref.namespace_name.empty() ? ref.name : ref.namespace_name + "/" + ref.name;
}

std::string sentence(std::string text) {
  text = trim(text);
  if (!text.empty() && text.back() != '.') text += '.';
  return text;
}

// "[PG0102] STRICT from legacy/default applies to ... Fix: Inject the proxy first ..."
std::string explain(const Finding& finding, std::size_t max_bytes) {
  std::string text = "[" + validation::codeString(finding.code) + "] ";
  if (!finding.path.empty() && finding.code < FindingCode::MeshWideDisable) {
    text += finding.path + ": ";
  }
  text += sentence(finding.message);
  if (!finding.hint.empty()) text += " Fix: " + sentence(finding.hint);
  return oneLine(text, max_bytes);
}

std::string joinCodes(const std::vector<const Finding*>& findings) {
  std::set<std::string> codes;
  for (const Finding* finding : findings) codes.insert(validation::codeString(finding->code));
  std::string out;
  for (const std::string& code : codes) out += (out.empty() ? "" : ",") + code;
  return out;
}

std::string denialMessage(const ObjectRef& ref, const Verdict& verdict) {
  const std::vector<const Finding*>& denials = verdict.denials;
  std::vector<const Finding*> allow = denials;  // keep what an exception already admits
  allow.insert(allow.end(), verdict.excepted.begin(), verdict.excepted.end());
  const std::string tail = " To admit it anyway after review, annotate it with " +
                           std::string(kAllowAnnotation) + ": " + joinCodes(allow) + " and " +
                           std::string(kReasonAnnotation) + ": <why>.";
  std::string message = ref.kind + " " + refText(ref) + " is refused:";
  std::size_t shown = 0;
  for (const Finding* finding : denials) {
    const std::size_t budget = shown == 0 ? 600 : 300;
    std::string part = " " + explain(*finding, budget);
    if (message.size() + part.size() + tail.size() > kMaxMessageBytes - 40) break;
    message += part;
    ++shown;
  }
  if (shown < denials.size()) {
    message += " (+" + std::to_string(denials.size() - shown) + " more)";
  }
  return message + tail;
}

// "[PG0201] the change weakens mTLS on foo/curl: workload STRICT -> PERMISSIVE (+1 more:
// foo/httpbin)": the first finding of a code, shortened so the names of the others still fit.
std::string groupWarning(const std::vector<const Finding*>& list) {
  const Finding& first = *list.front();
  std::string suffix;
  if (list.size() > 1) {
    suffix = " (+" + std::to_string(list.size() - 1) + " more:";
    for (std::size_t i = 1; i < std::min(list.size(), kMaxNamesInWarning + 1); ++i) {
      suffix += (i > 1 ? ", " : " ") + refText(list[i]->object);
    }
    suffix += list.size() > kMaxNamesInWarning + 1 ? ", ...)" : ")";
  }
  std::string prefix = "[" + validation::codeString(first.code) + "] ";
  if (!first.path.empty() && first.code < FindingCode::MeshWideDisable) prefix += first.path + ": ";
  const std::size_t used = prefix.size() + suffix.size();
  const std::size_t room = kMaxWarningRunes > used + 40 ? kMaxWarningRunes - used : 40;
  return prefix + oneLine(first.message, room) + suffix;
}

// One warning per code.
std::vector<std::string> findingWarnings(const std::vector<const Finding*>& findings) {
  std::map<FindingCode, std::vector<const Finding*>> by_code;
  for (const Finding* finding : findings) by_code[finding->code].push_back(finding);
  std::vector<std::string> out;
  for (const auto& [code, list] : by_code) out.push_back(groupWarning(list));
  return out;
}

std::vector<std::string> warningTexts(const Verdict& verdict, const Exception& exception) {
  std::vector<std::string> out = findingWarnings(verdict.excepted);
  if (!verdict.excepted.empty()) {
    out.push_back(std::string(kAllowAnnotation) + " admitted " + joinCodes(verdict.excepted) +
                  "; reason: \"" + exception.reason + "\"");
  }
  for (std::string& text : findingWarnings(verdict.warnings)) out.push_back(std::move(text));
  for (const std::string& entry : exception.unknown) {
    out.push_back(std::string(kAllowAnnotation) + ": \"" + entry +
                  "\" is not a finding code (see docs/findings.md)");
  }
  return out;
}

// Each code once, with the action it actually got (a code admitted by peergate.io/allow is an
// exception, not a denial, even on a request another code denies).
void noteFinding(AdmissionOutcome& outcome, FindingCode code, const char* action) {
  AppliedFinding applied{validation::codeString(code), action};
  const auto same = [&](const AppliedFinding& seen) { return seen.code == applied.code; };
  if (std::none_of(outcome.findings.begin(), outcome.findings.end(), same)) {
    outcome.findings.push_back(std::move(applied));
  }
}

void recordCodes(const Verdict& verdict, AdmissionOutcome& outcome) {
  for (const Finding* finding : verdict.denials) noteFinding(outcome, finding->code, "deny");
  for (const Finding* finding : verdict.excepted) noteFinding(outcome, finding->code, "exception");
  for (const Finding* finding : verdict.warnings) noteFinding(outcome, finding->code, "warn");
  std::sort(outcome.findings.begin(), outcome.findings.end(),
            [](const AppliedFinding& a, const AppliedFinding& b) { return a.code < b.code; });
}

// ---- Checks that need no plan ----

// Istio's own rules for the object (PG00xx errors) refuse it whatever the config says.
std::optional<AdmissionResponse> schemaDenial(const Change& change, AdmissionOutcome& outcome) {
  if (!change.object || change.object->inputs.peer_authentications.empty()) return std::nullopt;
  std::vector<Finding> errors;
  for (Finding& finding :
       validation::validatePeerAuthentication(change.object->inputs.peer_authentications[0])) {
    if (finding.severity == validation::Severity::Error) errors.push_back(std::move(finding));
  }
  if (errors.empty()) return std::nullopt;
  std::string message = "configuration is invalid:";
  for (const Finding& finding : errors) {
    message += " " + explain(finding, kMaxMessageBytes / errors.size());
    noteFinding(outcome, finding.code, "deny");
  }
  return denyResponse(400, message);
}

std::optional<AdmissionResponse> exceptionWithoutReason(const Change& change) {
  if (!change.object) return std::nullopt;
  const Exception exception = readException(change.object->meta.annotations);
  if (!exception.present || !exception.reason.empty()) return std::nullopt;
  return denyResponse(403, std::string(kAllowAnnotation) + " is set on " + refText(change.ref) +
                               " but " + std::string(kReasonAnnotation) +
                               " is empty: say why the exception is needed (it is logged and "
                               "shown to whoever applies the change).");
}

const validation::Labels& exceptionAnnotations(const Change& change) {
  static const validation::Labels kNone;
  if (change.object) return change.object->meta.annotations;
  return change.old_object ? change.old_object->meta.annotations : kNone;
}

AdmissionResponse verdictResponse(const validation::Plan& result, const WebhookConfig& config,
                                  const Change& change, AdmissionOutcome& outcome) {
  const Exception exception = readException(exceptionAnnotations(change));
  const Verdict verdict = classify(result.introduced, config, exception);
  recordCodes(verdict, outcome);
  AdmissionResponse response = verdict.denials.empty()
                                   ? allowResponse()
                                   : denyResponse(403, denialMessage(change.ref, verdict));
  response.warnings = warningTexts(verdict, exception);
  return response;
}

}  // namespace

void putObject(StateParts& parts, const RequestObject& object, bool keep_created) {
  upsert(parts.objects.peer_authentications, object.inputs.peer_authentications, keep_created,
         parts.owners);
  upsert(parts.objects.destination_rules, object.inputs.destination_rules, keep_created,
         parts.owners);
  upsert(parts.objects.namespaces, object.inputs.namespaces, keep_created, parts.owners);
}

void Reach::add(const ObjectRef& ref, const validation::MeshConfig& mesh) {
  if (ref.kind == "Namespace") {
    namespaces.insert(ref.name);
  } else if (ref.kind == "PeerAuthentication" && ref.namespace_name != mesh.root_namespace) {
    namespaces.insert(ref.namespace_name);
  } else {
    everything = true;  // a mesh-wide policy, or a DestinationRule whose host is unknown
  }
}

void Reach::add(const RequestObject& object, const validation::MeshConfig& mesh) {
  if (object.inputs.destination_rules.empty()) return add(object.ref, mesh);
  const validation::DestinationRule& rule = object.inputs.destination_rules.front();
  if (rule.host.find('*') != std::string::npos) {
    everything = true;  // "*", "*.cluster.local", "*.foo.svc.cluster.local": keep it simple
    return;
  }
  // "name", "name.ns", "name.ns.svc.cluster.local": the rule's own namespace and every label of
  // the host (a superset of the namespace the host names costs nothing).
  namespaces.insert(rule.meta.namespace_name);
  for (const std::string& label : hostLabels(rule.host)) namespaces.insert(label);
}

void standForSnapshot(ClusterState& state, const ClusterState& snapshot, const Reach& reach) {
  if (!reach.everything) state.standFor(snapshot, namespacesWithin(snapshot, reach));
}

validation::ObjectSelection selectionWithin(const ClusterState& snapshot, const Reach& reach) {
  if (reach.everything) return snapshot.objects();
  validation::ObjectSelection out;
  const std::set<std::string> namespaces = namespacesWithin(snapshot, reach);
  for (const std::string& ns : namespaces) selectNamespace(snapshot, ns, out);
  out.destination_rules = snapshot.destinationRulesReaching(namespaces);
  return out;
}

Inputs inputsWithin(const ClusterState& snapshot, const Reach& reach) {
  const validation::ObjectSelection selected = selectionWithin(snapshot, reach);
  Inputs out;
  out.mesh = snapshot.mesh();
  out.peer_authentications = copies(selected.peer_authentications);
  out.namespaces = copies(selected.namespaces);
  out.workloads = copies(selected.workloads);
  out.services = copies(selected.services);
  out.destination_rules = copies(selected.destination_rules);
  return out;
}

AdmissionResponse validateAdmission(const AdmissionContext& context,
                                    const AdmissionRequest& request, AdmissionOutcome& outcome) {
  if (auto problem = checkRequest(request)) return *problem;
  std::optional<AdmissionResponse> unavailable;
  const StateStore::Snapshot snapshot = currentState(context, unavailable);
  if (!snapshot) return *unavailable;
  if (auto stale = staleStateResponse(context)) return *stale;
  Change change;
  if (auto problem = decodeChange(request, change)) return *problem;
  outcome.name = change.ref.name;
  if (auto denial = schemaDenial(change, outcome)) return *denial;
  if (auto denial = exceptionWithoutReason(change)) return *denial;
  return verdictResponse(planChange(context, snapshot, change), context.config, change, outcome);
}

}  // namespace peergate::webhook
