#include "peergate/validation/finding.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <tuple>

namespace peergate::validation {
namespace {

constexpr std::array kCatalogue = {
    FindingInfo{FindingCode::InvalidMode, "InvalidMode", Severity::Error,
                "mtls.mode is not one of UNSET, DISABLE, PERMISSIVE, STRICT"},
    FindingInfo{FindingCode::PortLevelMtlsWithoutSelector, "PortLevelMtlsWithoutSelector",
                Severity::Error, "portLevelMtls on a mesh-wide or namespace-wide policy"},
    FindingInfo{FindingCode::EmptyPortLevelMtls, "EmptyPortLevelMtls", Severity::Error,
                "portLevelMtls is present but has no entry"},
    FindingInfo{FindingCode::PortOutOfRange, "PortOutOfRange", Severity::Error,
                "a portLevelMtls key is outside 1..65535"},
    FindingInfo{FindingCode::PortNotNumeric, "PortNotNumeric", Severity::Error,
                "a portLevelMtls key is not a number"},
    FindingInfo{FindingCode::EmptySelectorKey, "EmptySelectorKey", Severity::Error,
                "a selector label has an empty key"},
    FindingInfo{FindingCode::WildcardInSelector, "WildcardInSelector", Severity::Error,
                "a selector label key or value contains '*'"},
    FindingInfo{FindingCode::SelectorWithoutLabels, "SelectorWithoutLabels", Severity::Warning,
                "selector is present but has no labels (the policy is not workload-scoped)"},
    FindingInfo{FindingCode::InvalidLabel, "InvalidLabel", Severity::Error,
                "a label key or value breaks Kubernetes label syntax"},
    FindingInfo{FindingCode::InvalidName, "InvalidName", Severity::Error,
                "metadata.name or metadata.namespace is not a valid DNS-1123 name"},
    FindingInfo{FindingCode::InvalidField, "InvalidField", Severity::Error,
                "a field has the wrong type or shape"},
    FindingInfo{FindingCode::MeshWideDisable, "MeshWideDisable", Severity::Error,
                "a mesh-wide policy turns mTLS off everywhere not overridden"},
    FindingInfo{FindingCode::StrictWithoutProxy, "StrictWithoutProxy", Severity::Error,
                "STRICT applies to workloads that have no proxy and are not ambient"},
    FindingInfo{FindingCode::DuplicateMeshWidePolicy, "DuplicateMeshWidePolicy", Severity::Error,
                "more than one mesh-wide policy; only the oldest is used"},
    FindingInfo{FindingCode::DuplicateNamespaceWidePolicy, "DuplicateNamespaceWidePolicy",
                Severity::Error, "more than one namespace-wide policy; only the oldest is used"},
    FindingInfo{FindingCode::OverlappingWorkloadPolicies, "OverlappingWorkloadPolicies",
                Severity::Error,
                "several workload policies select one workload; only the oldest is used"},
    FindingInfo{FindingCode::SelectorPolicyInRootNamespace, "SelectorPolicyInRootNamespace",
                Severity::Warning, "a selector policy in the root namespace is ignored at runtime"},
    FindingInfo{FindingCode::SelectorMatchesNoWorkload, "SelectorMatchesNoWorkload",
                Severity::Warning, "the policy's selector matches no workload in its namespace"},
    FindingInfo{FindingCode::PortLevelMtlsUnknownPort, "PortLevelMtlsUnknownPort",
                Severity::Warning, "portLevelMtls names a port no selected container exposes"},
    FindingInfo{FindingCode::PortLevelMtlsUsesServicePort, "PortLevelMtlsUsesServicePort",
                Severity::Warning, "portLevelMtls names a Service port whose targetPort differs"},
    FindingInfo{FindingCode::DestinationRulePlaintextToStrict, "DestinationRulePlaintextToStrict",
                Severity::Error, "a DestinationRule sends DISABLE/SIMPLE TLS to STRICT workloads"},
    FindingInfo{FindingCode::DestinationRuleMutualWithoutProxy, "DestinationRuleMutualWithoutProxy",
                Severity::Error,
                "a DestinationRule sends ISTIO_MUTUAL to workloads without a proxy"},
    FindingInfo{FindingCode::StrictOnProbedPort, "StrictOnProbedPort", Severity::Warning,
                "STRICT on a port kubelet probes while probe rewriting is off"},
    FindingInfo{FindingCode::StrictWithObservedPlaintext, "StrictWithObservedPlaintext",
                Severity::Error, "STRICT while plaintext clients were observed on that port"},
    FindingInfo{FindingCode::WorkloadDisableInStrictNamespace, "WorkloadDisableInStrictNamespace",
                Severity::Warning, "a workload policy turns mTLS off inside a STRICT namespace"},
    FindingInfo{FindingCode::StrictWithUnmeshedClients, "StrictWithUnmeshedClients",
                Severity::Warning,
                "STRICT refuses plaintext while workloads without a proxy could be its clients"},
    FindingInfo{FindingCode::SecurityDowngrade, "SecurityDowngrade", Severity::Warning,
                "the change weakens the effective mode of a workload or port"},
};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::string_view toString(Severity severity) {
  switch (severity) {
    case Severity::Info:
      return "Info";
    case Severity::Warning:
      return "Warning";
    case Severity::Error:
      return "Error";
  }
  return "Error";
}

std::optional<Severity> parseSeverity(std::string_view text) {
  const std::string value = lower(text);
  if (value == "info") return Severity::Info;
  if (value == "warning" || value == "warn") return Severity::Warning;
  if (value == "error") return Severity::Error;
  return std::nullopt;
}

std::string codeString(FindingCode code) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "PG%04d", static_cast<int>(code) % 10000);
  return buffer;
}

std::optional<FindingCode> parseCode(std::string_view text) {
  for (const FindingInfo& info : kCatalogue) {
    if (codeString(info.code) == text || info.name == text) return info.code;
  }
  return std::nullopt;
}

std::span<const FindingInfo> findingCatalogue() { return kCatalogue; }

const FindingInfo& findingInfo(FindingCode code) {
  for (const FindingInfo& info : kCatalogue) {
    if (info.code == code) return info;
  }
  return kCatalogue.front();  // unreachable: every enumerator is catalogued (tested)
}

std::string Finding::key() const {
  return codeString(code) + "|" + object.kind + "|" + object.namespace_name + "|" + object.name +
         "|" + path;
}

void sortFindings(std::vector<Finding>& findings) {
  // Compares through references: a comparison copies no object reference or path.
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    return std::tie(a.object, a.code, a.path) < std::tie(b.object, b.code, b.path);
  });
}

}  // namespace peergate::validation
