#include "peergate/cli/change_set.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>
#include <vector>

namespace peergate::cli {
namespace {

using validation::ObjectRef;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Kinds the engine reads, by their lowercase name, plural and kubectl short name.
std::optional<std::string> canonicalKind(std::string_view text) {
  static const std::map<std::string, std::string, std::less<>> kKinds = {
      {"peerauthentication", "PeerAuthentication"},
      {"peerauthentications", "PeerAuthentication"},
      {"pa", "PeerAuthentication"},
      {"destinationrule", "DestinationRule"},
      {"destinationrules", "DestinationRule"},
      {"dr", "DestinationRule"},
      {"namespace", "Namespace"},
      {"namespaces", "Namespace"},
      {"ns", "Namespace"},
      {"service", "Service"},
      {"services", "Service"},
      {"svc", "Service"},
      {"pod", "Pod"},
      {"pods", "Pod"},
      {"po", "Pod"},
      {"deployment", "Deployment"},
      {"deployments", "Deployment"},
      {"deploy", "Deployment"},
      {"statefulset", "StatefulSet"},
      {"statefulsets", "StatefulSet"},
      {"sts", "StatefulSet"},
      {"daemonset", "DaemonSet"},
      {"daemonsets", "DaemonSet"},
      {"ds", "DaemonSet"},
      {"replicaset", "ReplicaSet"},
      {"replicasets", "ReplicaSet"},
      {"rs", "ReplicaSet"},
      {"job", "Job"},
      {"jobs", "Job"},
      {"cronjob", "CronJob"},
      {"cronjobs", "CronJob"},
      {"cj", "CronJob"},
  };
  const auto found = kKinds.find(lower(text));
  if (found == kKinds.end()) return std::nullopt;
  return found->second;
}

std::vector<std::string> splitSlashes(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t slash = text.find('/'); slash != std::string_view::npos;
       slash = text.find('/', start)) {
    parts.emplace_back(text.substr(start, slash - start));
    start = slash + 1;
  }
  parts.emplace_back(text.substr(start));
  return parts;
}

std::optional<ObjectRef> namespaceRef(const std::vector<std::string>& parts) {
  const bool short_form = parts.size() == 2;
  const bool long_form = parts.size() == 3 && parts[1].empty();
  if (!(short_form || long_form) || parts.back().empty()) return std::nullopt;
  return ObjectRef{"Namespace", "", parts.back()};
}

template <typename T>
void upsert(std::vector<T>& current, std::vector<T>& change) {
  for (T& object : change) {
    const auto same = std::find_if(current.begin(), current.end(), [&object](const T& existing) {
      return existing.ref() == object.ref();
    });
    if (same == current.end()) {
      current.push_back(std::move(object));
      continue;
    }
    if (object.meta.creation_timestamp.empty()) {
      object.meta.creation_timestamp = same->meta.creation_timestamp;
    }
    if (object.meta.uid.empty()) object.meta.uid = same->meta.uid;
    *same = std::move(object);
  }
}

template <typename T>
void appendRefs(const std::vector<T>& objects, std::vector<ObjectRef>& refs) {
  for (const T& object : objects) refs.push_back(object.ref());
}

template <typename T>
bool removeFrom(std::vector<T>& objects, const ObjectRef& ref) {
  const auto found = std::find_if(objects.begin(), objects.end(),
                                  [&ref](const T& object) { return object.ref() == ref; });
  if (found == objects.end()) return false;
  objects.erase(found);
  return true;
}

template <typename T>
void removeAllIn(std::vector<T>& objects, const std::string& ns) {
  std::erase_if(objects, [&ns](const T& object) { return object.meta.namespace_name == ns; });
}

// What the API server's namespace deletion does: everything in it goes too.
void removeNamespaced(validation::Inputs& inputs, const std::string& ns) {
  removeAllIn(inputs.peer_authentications, ns);
  removeAllIn(inputs.workloads, ns);
  removeAllIn(inputs.services, ns);
  removeAllIn(inputs.destination_rules, ns);
}

}  // namespace

std::optional<ObjectRef> parseObjectRef(std::string_view text) {
  const std::vector<std::string> parts = splitSlashes(text);
  const std::optional<std::string> kind = canonicalKind(parts.front());
  if (!kind) return std::nullopt;
  if (*kind == "Namespace") return namespaceRef(parts);
  if (parts.size() != 3 || parts[1].empty() || parts[2].empty()) return std::nullopt;
  return ObjectRef{*kind, parts[1], parts[2]};
}

void upsertAll(validation::Inputs& inputs, validation::Inputs change) {
  upsert(inputs.peer_authentications, change.peer_authentications);
  upsert(inputs.namespaces, change.namespaces);
  upsert(inputs.workloads, change.workloads);
  upsert(inputs.services, change.services);
  upsert(inputs.destination_rules, change.destination_rules);
  if (change.mesh.from_input) inputs.mesh = std::move(change.mesh);
}

bool removeObject(validation::Inputs& inputs, const ObjectRef& ref) {
  if (ref.kind == "Namespace") {
    if (!removeFrom(inputs.namespaces, ref)) return false;
    removeNamespaced(inputs, ref.name);
    return true;
  }
  return removeFrom(inputs.peer_authentications, ref) || removeFrom(inputs.workloads, ref) ||
         removeFrom(inputs.services, ref) || removeFrom(inputs.destination_rules, ref);
}

std::vector<ObjectRef> objectRefs(const validation::Inputs& inputs) {
  std::vector<ObjectRef> refs;
  appendRefs(inputs.peer_authentications, refs);
  appendRefs(inputs.namespaces, refs);
  appendRefs(inputs.workloads, refs);
  appendRefs(inputs.services, refs);
  appendRefs(inputs.destination_rules, refs);
  return refs;
}

}  // namespace peergate::cli
