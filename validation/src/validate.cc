#include "peergate/validation/validate.h"

#include <string>
#include <string_view>
#include <utility>

#include "kube_names.h"

namespace peergate::validation {
namespace {

// Joins the rules a text breaks into one sentence list.
std::string joinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& error : errors) {
    if (!out.empty()) out += "; ";
    out += error;
  }
  return out;
}

// "spec.portLevelMtls.8080"; the map itself when the key is empty, so no path ends in '.'.
std::string entryPath(std::string_view map_path, const std::string& key) {
  std::string path(map_path);
  if (!key.empty()) path += "." + key;
  return path;
}

// Builds the findings of one object: the code decides the severity.
class FindingSink {
 public:
  FindingSink(std::vector<Finding>& out, ObjectRef object, SourceLocation source)
      : out_(out), object_(std::move(object)), source_(std::move(source)) {}

  void add(FindingCode code, std::string path, std::string message, std::string hint) {
    addWithSeverity(code, findingInfo(code).severity, std::move(path), std::move(message),
                    std::move(hint));
  }
  void addWithSeverity(FindingCode code, Severity severity, std::string path, std::string message,
                       std::string hint) {
    out_.push_back(Finding{code, severity, object_, std::move(path), std::move(message),
                           std::move(hint), source_});
  }

 private:
  std::vector<Finding>& out_;
  ObjectRef object_;
  SourceLocation source_;
};

constexpr std::string_view kSupportedModes =
    R"(supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT")";

// PG0001: the CRD enum message, as the API server words it.
void checkMode(const ModeValue& mode, const std::string& path, FindingSink& sink) {
  if (mode.valid) return;
  sink.add(FindingCode::InvalidMode, path,
           "Unsupported value: " + goQuote(mode.text) + ": " + std::string(kSupportedModes),
           "Set mode to one of UNSET, DISABLE, PERMISSIVE or STRICT (UNSET inherits from the "
           "namespace or mesh policy).");
}

// PG0002..PG0005 and the per-port modes.
void checkPortLevelMtls(const PeerAuthentication& policy, FindingSink& sink) {
  if (!policy.port_level_mtls) return;
  const std::vector<PortLevelEntry>& entries = *policy.port_level_mtls;

  // Istio's webhook: `emptySelector && len(PortLevelMtls) != 0`; the CRD's
  // "portLevelMtls requires selector" says the same.
  if (!policy.hasSelectorLabels() && !entries.empty()) {
    sink.add(FindingCode::PortLevelMtlsWithoutSelector, "spec.portLevelMtls",
             "mesh/namespace peer authentication cannot have port level mTLS",
             "Add spec.selector.matchLabels naming the workload, or move the port rules into a "
             "workload policy.");
  }
  if (entries.empty()) {
    sink.add(FindingCode::EmptyPortLevelMtls, "spec.portLevelMtls",
             "port level mTLS, if defined, must have at least one element",
             "Remove the empty portLevelMtls field, or add at least one port entry to it.");
  }

  for (const PortLevelEntry& entry : entries) {
    const std::string path = entryPath("spec.portLevelMtls", entry.key);
    if (!entry.port) {
      sink.add(FindingCode::PortNotNumeric, path,
               "portLevelMtls key " + goQuote(entry.key) +
                   " is not a port number: type conversion error from 'string' to 'int'",
               "Key each portLevelMtls entry by the workload's numeric container port, e.g. "
               "\"8080\".");
    } else if (*entry.port < 1 || *entry.port > 65535) {
      sink.add(FindingCode::PortOutOfRange, path, "port must be in range 1..65535",
               "Use the workload's container port, a number from 1 to 65535, as the key.");
    }
    checkMode(entry.mode, path + ".mode", sink);
  }
}

// PG0006..PG0009 on spec.selector.matchLabels (Istio's validateWorkloadSelector plus the CRD
// value length and Kubernetes label syntax).
void checkSelector(const PeerAuthentication& policy, FindingSink& sink) {
  if (!policy.selector) return;
  for (const auto& [key, value] : *policy.selector) {
    const std::string path = entryPath("spec.selector.matchLabels", key);
    const std::string pair = goQuote(key + "=" + value);
    const bool wildcard_key = key.find('*') != std::string::npos;
    const bool wildcard_value = value.find('*') != std::string::npos;

    if (key.empty()) {
      sink.add(FindingCode::EmptySelectorKey, "spec.selector.matchLabels",
               "empty key is not supported in selector: " + pair,
               "Give every matchLabels entry a non-empty label key.");
    }
    if (wildcard_key || wildcard_value) {
      sink.add(FindingCode::WildcardInSelector, path,
               "wildcard is not supported in selector: " + pair,
               "Match exact label values: list the workload's own labels instead of a pattern.");
    }

    std::vector<std::string> problems;
    bool bad_key = false;
    bool bad_value = false;
    if (!key.empty() && !wildcard_key) {
      const std::vector<std::string> errors = qualifiedNameErrors(key);
      if (!errors.empty()) {
        bad_key = true;
        problems.push_back("label key " + goQuote(key) + " is invalid: " + joinErrors(errors));
      }
    }
    const std::size_t value_length = codePointCount(value);
    if (value_length > kLabelValueMaxLength) {
      // The CRD's `maxLength: 63`; Istio's webhook does not check it, the API server does.
      bad_value = true;
      problems.push_back("label value for key " + goQuote(key) + " is " +
                         std::to_string(value_length) +
                         " characters long, but the CRD allows at most 63 (the API server "
                         "rejects it even though Istio's webhook accepts it)");
    } else if (!wildcard_value) {
      const std::vector<std::string> errors = labelValueErrors(value);
      if (!errors.empty()) {
        bad_value = true;
        problems.push_back("label value " + goQuote(value) + " of key " + goQuote(key) +
                           " is invalid: " + joinErrors(errors));
      }
    }
    if (!problems.empty()) {
      std::string hint;
      if (bad_key && bad_value) {
        hint =
            "Select the workload by a label it really carries: keys and values of at most 63 "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit.";
      } else if (bad_key) {
        hint =
            "Use a label key of at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit, optionally after a DNS subdomain prefix and '/'.";
      } else {
        hint =
            "Use a label value of at most 63 letters, digits, '-', '_' or '.', starting and "
            "ending with a letter or digit (or an empty value).";
      }
      // Istio and its CRD admit label syntax errors in a selector (only the CRD's 63-character
      // limit rejects); such a selector can never match a pod, so it is a Warning.
      const bool api_server_rejects = value_length > kLabelValueMaxLength;
      std::string message = joinErrors(problems);
      if (!api_server_rejects) message += "; Istio accepts it, but no pod can carry this label";
      sink.addWithSeverity(FindingCode::InvalidLabel,
                           api_server_rejects ? Severity::Error : Severity::Warning, path,
                           std::move(message), std::move(hint));
    }
  }
  if (policy.selector->empty()) {
    sink.add(FindingCode::SelectorWithoutLabels, "spec.selector",
             "workload selector specified without labels",
             "Add matchLabels naming the workload, or remove the empty selector to make the "
             "policy namespace-wide on purpose.");
  }
}

void checkName(const ObjectMeta& meta, const ObjectRef& ref, FindingSink& sink) {
  if (meta.name.empty()) {
    sink.add(FindingCode::InvalidName, "metadata.name",
             "metadata.name is required: Kubernetes refuses an object without a name",
             "Set metadata.name to a lowercase DNS-1123 name such as \"default\" or "
             "\"httpbin-strict\".");
    return;
  }
  // A Namespace's own name is a DNS-1123 label; every other kind here uses a subdomain.
  if (ref.kind == "Namespace") {
    const std::vector<std::string> errors = dns1123LabelErrors(meta.name);
    if (!errors.empty()) {
      sink.add(FindingCode::InvalidName, "metadata.name",
               "metadata.name " + goQuote(meta.name) + " is invalid: " + joinErrors(errors),
               "Rename the namespace to at most 63 lowercase letters, digits or '-', starting "
               "and ending with a letter or digit.");
    }
    return;
  }
  const std::vector<std::string> errors = dns1123SubdomainErrors(meta.name);
  if (!errors.empty()) {
    sink.add(FindingCode::InvalidName, "metadata.name",
             "metadata.name " + goQuote(meta.name) + " is invalid: " + joinErrors(errors),
             "Rename the object to at most 253 lowercase letters, digits, '-' or '.', starting "
             "and ending with a letter or digit.");
  }
}

void checkNamespace(const ObjectMeta& meta, const ObjectRef& ref, FindingSink& sink) {
  // Cluster-scoped Namespace objects have no namespace; an empty one is defaulted by kubectl.
  if (ref.kind == "Namespace" || meta.namespace_name.empty()) return;
  const std::vector<std::string> errors = dns1123LabelErrors(meta.namespace_name);
  if (!errors.empty()) {
    sink.add(
        FindingCode::InvalidName, "metadata.namespace",
        "metadata.namespace " + goQuote(meta.namespace_name) + " is invalid: " + joinErrors(errors),
        "Use a namespace name of at most 63 lowercase letters, digits or '-', starting and "
        "ending with a letter or digit.");
  }
}

void checkLabels(const ObjectMeta& meta, FindingSink& sink) {
  for (const auto& [key, value] : meta.labels) {
    std::vector<std::string> problems;
    const std::vector<std::string> key_errors = qualifiedNameErrors(key);
    if (!key_errors.empty()) {
      problems.push_back("label key " + goQuote(key) + " is invalid: " + joinErrors(key_errors));
    }
    const std::vector<std::string> value_errors = labelValueErrors(value);
    if (!value_errors.empty()) {
      problems.push_back("label value " + goQuote(value) + " of key " + goQuote(key) +
                         " is invalid: " + joinErrors(value_errors));
    }
    if (problems.empty()) continue;
    std::string hint;
    if (!key_errors.empty() && !value_errors.empty()) {
      hint =
          "Use label keys and values of at most 63 letters, digits, '-', '_' or '.', starting "
          "and ending with a letter or digit.";
    } else if (!key_errors.empty()) {
      hint =
          "Use a label key of at most 63 letters, digits, '-', '_' or '.', starting and ending "
          "with a letter or digit, optionally after a DNS subdomain prefix and '/'.";
    } else {
      hint =
          "Use a label value of at most 63 letters, digits, '-', '_' or '.', starting and "
          "ending with a letter or digit (or an empty value), or move the text to an "
          "annotation.";
    }
    sink.add(FindingCode::InvalidLabel, entryPath("metadata.labels", key), joinErrors(problems),
             std::move(hint));
  }
}

}  // namespace

std::vector<Finding> validateObjectMeta(const ObjectMeta& meta, const ObjectRef& ref) {
  std::vector<Finding> findings;
  FindingSink sink(findings, ref, meta.source);
  checkName(meta, ref, sink);
  checkNamespace(meta, ref, sink);
  checkLabels(meta, sink);
  return findings;
}

std::vector<Finding> validatePeerAuthentication(const PeerAuthentication& policy) {
  std::vector<Finding> findings = validateObjectMeta(policy.meta, policy.ref());
  FindingSink sink(findings, policy.ref(), policy.meta.source);
  checkMode(policy.mtls, "spec.mtls.mode", sink);
  checkPortLevelMtls(policy, sink);
  checkSelector(policy, sink);
  return findings;
}

}  // namespace peergate::validation
