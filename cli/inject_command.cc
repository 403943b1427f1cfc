// `peergate inject`: offline injection of manifests, like `istioctl kube-inject`. Every object
// of the input is printed in order; Pods and controllers' pod templates go through the same
// injector as the webhook's /inject, everything else is printed unchanged.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "peergate/cli/command.h"
#include "peergate/cli/command_options.h"
#include "peergate/cli/exit_codes.h"
#include "peergate/cli/input_files.h"
#include "peergate/cli/json_to_yaml.h"
#include "peergate/webhook/config.h"
#include "peergate/webhook/injector.h"

namespace peergate::cli {
namespace {

using Ordered = nlohmann::ordered_json;
using validation::Error;

constexpr int kMaxDepth = 128;

constexpr const char* kInjectHelp =
    "Offline, injection does not depend on a cluster (like istioctl kube-inject): a pod is\n"
    "injected unless it opts out (label or annotation sidecar.istio.io/inject=false, or an\n"
    "istio.io/dataplane-mode label: ambient gives it only that label), uses hostNetwork, or is\n"
    "in kube-system, kube-public, kube-node-lease or local-path-storage. A Namespace in the same\n"
    "input is honoured when it chooses a dataplane: istio-injection (any value but enabled opts\n"
    "out), istio.io/rev, or istio.io/dataplane-mode=ambient (its pods get only that label).\n"
    "Objects without a pod template are printed unchanged; injecting injected manifests\n"
    "changes nothing. traffic.sidecar.istio.io/includeOutboundIPRanges is validated, but all\n"
    "outbound traffic is intercepted; TPROXY is validated and runs as REDIRECT.\n"
    "Exit codes: 0 done, 64 usage error, 65 unreadable input, an invalid annotation or a port\n"
    "or uid the proxy reserves (nothing is printed then).";

struct InjectOptions {
  std::string file;
  std::string output;
  std::string config_file;
};

Error inputError(const std::string& file, int document, std::string path, std::string message) {
  Error error;
  error.code = "inject.input";
  error.file = file;
  error.document = document;
  error.path = std::move(path);
  error.message = std::move(message);
  return error;
}

// ---------------------------------------------------------------------------------------------
// YAML to JSON, as kubectl reads YAML (sigs.k8s.io/yaml: YAML 1.1 plain scalars)

struct TooDeep {};

bool isOneOf(const std::string& text, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), text) != words.end();
}

// strtoll/strtoull with Go's base-0 prefixes (0x, 0o, 0b, leading 0 = octal).
std::optional<Ordered> integerScalar(const std::string& text) {
  std::string digits = text;
  std::erase(digits, '_');
  const bool negative = !digits.empty() && digits[0] == '-';
  const std::size_t sign = (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) ? 1 : 0;
  int base = 10;
  std::size_t start = sign;
  if (digits.size() > sign + 1 && digits[sign] == '0') {
    const char marker = static_cast<char>(digits[sign + 1] | 0x20);
    base = marker == 'x' ? 16 : marker == 'o' ? 8 : marker == 'b' ? 2 : 8;
    start = sign + (marker == 'x' || marker == 'o' || marker == 'b' ? 2 : 1);
  }
  const std::string body = digits.substr(start);
  if (body.empty() || !std::all_of(body.begin(), body.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long magnitude = std::strtoull(body.c_str(), &end, base);
  if (errno != 0 || *end != '\0') return std::nullopt;
  if (!negative) {
    if (magnitude <= static_cast<unsigned long long>(INT64_MAX)) {
      return Ordered(static_cast<std::int64_t>(magnitude));
    }
    return Ordered(static_cast<std::uint64_t>(magnitude));
  }
  if (magnitude > static_cast<unsigned long long>(INT64_MAX) + 1) return std::nullopt;
  return Ordered(static_cast<std::int64_t>(0 - magnitude));
}

std::size_t skipDigits(std::string_view text, std::size_t at) {
  while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
  return at;
}

// YAML 1.1's float form: [-+]? ( .digits | digits ( . digits? )? ) ( [eE] [-+]? digits )?
// (by hand: std::regex is slow and trips GCC 12's -Wmaybe-uninitialized under sanitizers).
bool isYamlFloat(std::string_view text) {
  std::size_t at = text.empty() || (text[0] != '-' && text[0] != '+') ? 0 : 1;
  const std::size_t whole = skipDigits(text, at);
  if (whole == at) {  // no integer part: ".5"
    if (at >= text.size() || text[at] != '.') return false;
    const std::size_t fraction = skipDigits(text, at + 1);
    if (fraction == at + 1) return false;
    at = fraction;
  } else {
    at = whole;
    if (at < text.size() && text[at] == '.') at = skipDigits(text, at + 1);
  }
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < text.size() && (text[at] == '-' || text[at] == '+')) ++at;
    const std::size_t exponent = skipDigits(text, at);
    if (exponent == at) return false;
    at = exponent;
  }
  return at == text.size();
}

std::optional<Ordered> floatScalar(const std::string& text) {
  std::string plain = text;
  std::erase(plain, '_');
  if (!isYamlFloat(plain)) return std::nullopt;
  return Ordered(std::strtod(plain.c_str(), nullptr));
}

Ordered plainScalar(const std::string& text) {
  if (isOneOf(text, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (isOneOf(text, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) {
    return true;
  }
  if (isOneOf(text, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
    return false;
  }
  if (std::optional<Ordered> integer = integerScalar(text)) return *integer;
  if (std::optional<Ordered> number = floatScalar(text)) return *number;
  return text;
}

Ordered scalarValue(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return node.Scalar();
  return plainScalar(node.Scalar());
}

Ordered fromYaml(const YAML::Node& node, int depth) {
  if (depth > kMaxDepth) throw TooDeep{};
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return scalarValue(node);
    case YAML::NodeType::Sequence: {
      Ordered array = Ordered::array();
      for (const YAML::Node& item : node) array.push_back(fromYaml(item, depth + 1));
      return array;
    }
    case YAML::NodeType::Map: {
      Ordered object = Ordered::object();
      for (const auto& entry : node) {
        const std::string key =
            entry.first.IsScalar() ? entry.first.Scalar() : YAML::Dump(entry.first);
        object[key] = fromYaml(entry.second, depth + 1);
      }
      return object;
    }
    default:
      return nullptr;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the input into documents

struct Document {
  Ordered object;
  int index = 0;  // position in the input, counting empty documents
};

bool looksLikeJson(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

std::vector<Document> parseJson(const std::string& text, const std::string& file,
                                std::vector<Error>& errors) {
  std::vector<Document> documents;
  try {
    Ordered parsed = Ordered::parse(text);
    if (!parsed.is_array()) return {Document{std::move(parsed), 0}};
    for (Ordered& item : parsed) {
      documents.push_back({std::move(item), static_cast<int>(documents.size())});
    }
  } catch (const nlohmann::json::exception& e) {
    errors.push_back(inputError(file, 0, "", std::string("invalid JSON: ") + e.what()));
  }
  return documents;
}

std::vector<Document> parseYaml(const std::string& text, const std::string& file,
                                std::vector<Error>& errors) {
  std::vector<Document> documents;
  try {
    const std::vector<YAML::Node> nodes = YAML::LoadAll(text);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].IsNull()) continue;
      documents.push_back({fromYaml(nodes[i], 0), static_cast<int>(i)});
    }
  } catch (const YAML::Exception& e) {
    Error error =
        inputError(file, static_cast<int>(documents.size()), "", "invalid YAML: " + e.msg);
    error.line = e.mark.line + 1;
    errors.push_back(std::move(error));
  } catch (const TooDeep&) {
    errors.push_back(inputError(file, static_cast<int>(documents.size()), "",
                                "nested deeper than " + std::to_string(kMaxDepth) + " levels"));
  }
  return documents;
}

std::optional<std::string> readSource(const std::string& file, std::istream& in,
                                      std::vector<Error>& errors) {
  if (file != "-") return readWholeFile(file, errors);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    errors.push_back(inputError("-", -1, "", "cannot read standard input"));
    return std::nullopt;
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Injecting every pod (template) of every object

std::string stringAt(const Ordered& object, std::initializer_list<std::string_view> path) {
  const Ordered* current = &object;
  for (const std::string_view key : path) {
    if (!current->is_object()) return "";
    const auto it = current->find(key);
    if (it == current->end()) return "";
    current = &*it;
  }
  return current->is_string() ? current->get<std::string>() : "";
}

bool isList(const Ordered& object) {
  const std::string kind = stringAt(object, {"kind"});
  return kind.ends_with("List") && object.contains("items") && object.at("items").is_array();
}

// Where the kind keeps its pods, as a JSON pointer ("" for a Pod itself).
std::optional<std::string> podPointer(const std::string& kind) {
  static const std::map<std::string, std::string, std::less<>> kTemplates = {
      {"Pod", ""},
      {"Deployment", "/spec/template"},
      {"StatefulSet", "/spec/template"},
      {"DaemonSet", "/spec/template"},
      {"ReplicaSet", "/spec/template"},
      {"ReplicationController", "/spec/template"},
      {"Job", "/spec/template"},
      {"CronJob", "/spec/jobTemplate/spec/template"},
  };
  const auto it = kTemplates.find(kind);
  if (it == kTemplates.end()) return std::nullopt;
  return it->second;
}

std::string fieldPath(const std::string& pointer) {
  std::string path = pointer.empty() ? "" : pointer.substr(1);
  std::replace(path.begin(), path.end(), '/', '.');
  return path;
}

void collectNamespaces(const Ordered& object, std::map<std::string, validation::Namespace>& out) {
  if (isList(object)) {
    for (const Ordered& item : object.at("items")) collectNamespaces(item, out);
    return;
  }
  if (stringAt(object, {"kind"}) != "Namespace") return;
  validation::Namespace ns;
  ns.meta.name = stringAt(object, {"metadata", "name"});
  const auto metadata = object.find("metadata");
  if (metadata != object.end() && metadata->contains("labels") &&
      metadata->at("labels").is_object()) {
    for (const auto& [key, value] : metadata->at("labels").items()) {
      if (value.is_string()) ns.meta.labels[key] = value.get<std::string>();
    }
  }
  out[ns.meta.name] = std::move(ns);
}

struct InjectRun {
  InjectRun(const webhook::InjectionConfig& injection, std::string source)
      : config(injection), file(std::move(source)) {}

  const webhook::InjectionConfig& config;
  validation::MeshConfig mesh;
  std::map<std::string, validation::Namespace> namespaces;
  std::string file;
  std::vector<Error> errors;
};

webhook::PodContext contextFor(const Ordered& object, const std::string& kind, InjectRun& run) {
  webhook::PodContext context;
  context.namespace_name = stringAt(object, {"metadata", "namespace"});
  if (context.namespace_name.empty()) context.namespace_name = "default";
  const auto ns = run.namespaces.find(context.namespace_name);
  context.ns = ns == run.namespaces.end() ? nullptr : &ns->second;
  if (kind != "Pod") context.workload_name = stringAt(object, {"metadata", "name"});
  context.selection = webhook::InjectionSelection::Offline;
  return context;
}

void injectPodAt(Ordered& object, const std::string& pointer, const std::string& where,
                 int document, InjectRun& run) {
  const Ordered::json_pointer at(pointer);
  if (!object.contains(at)) return;
  Ordered& pod = object.at(at);
  const webhook::PodContext context = contextFor(object, stringAt(object, {"kind"}), run);
  validation::Result<webhook::Injection> injected =
      webhook::injectPod(nlohmann::json(pod), context, run.mesh, run.config);
  if (!injected) {
    Error error = injected.error();
    const std::string prefix = where + fieldPath(pointer);
    error.path = prefix.empty() ? error.path : prefix + "." + error.path;
    error.file = run.file;
    error.document = document;
    run.errors.push_back(std::move(error));
    return;
  }
  if (!injected.value().patch.empty()) pod = pod.patch(Ordered(injected.value().patch));
}

void injectObject(Ordered& object, const std::string& where, int document, InjectRun& run) {
  if (isList(object)) {
    Ordered& items = object.at("items");
    for (std::size_t i = 0; i < items.size(); ++i) {
      injectObject(items[i], where + "items[" + std::to_string(i) + "].", document, run);
    }
    return;
  }
  if (std::optional<std::string> pointer = podPointer(stringAt(object, {"kind"}))) {
    injectPodAt(object, *pointer, where, document, run);
  }
}

// ---------------------------------------------------------------------------------------------
// The command

std::string render(const std::vector<Document>& documents, OutputFormat format) {
  if (format == OutputFormat::Json) {
    if (documents.size() == 1) return toJsonText(documents.front().object);
    Ordered list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", Ordered::array()}};
    for (const Document& document : documents) list["items"].push_back(document.object);
    return toJsonText(list);
  }
  std::string out;
  for (const Document& document : documents) {
    out += (out.empty() ? "" : "---\n") + toYaml(document.object);
  }
  return out;
}

std::optional<webhook::InjectionConfig> loadConfig(const std::string& path,
                                                   std::vector<Error>& errors) {
  if (path.empty()) return webhook::InjectionConfig{};
  std::optional<std::string> text = readWholeFile(path, errors);
  if (!text) return std::nullopt;
  validation::Result<webhook::WebhookConfig> parsed = webhook::parseWebhookConfig(*text);
  if (!parsed) {
    Error error = parsed.error();
    error.file = path;
    errors.push_back(std::move(error));
    return std::nullopt;
  }
  return parsed.value().injection;
}

std::vector<Document> readDocuments(const std::string& file, std::istream& in,
                                    std::vector<Error>& errors) {
  std::optional<std::string> text = readSource(file, in, errors);
  if (!text) return {};
  return looksLikeJson(*text) ? parseJson(*text, file, errors) : parseYaml(*text, file, errors);
}

int runInject(const InjectOptions& options, Streams& streams) {
  std::vector<Error> errors;
  const std::optional<webhook::InjectionConfig> config = loadConfig(options.config_file, errors);
  std::vector<Document> documents = readDocuments(options.file, streams.in, errors);
  if (!errors.empty() || !config) return reportInputErrors(errors, streams.err);
  InjectRun run(*config, options.file);
  for (const Document& document : documents) collectNamespaces(document.object, run.namespaces);
  for (Document& document : documents) injectObject(document.object, "", document.index, run);
  if (!run.errors.empty()) return reportInputErrors(run.errors, streams.err);
  streams.out << render(documents, outputFormat(options.output));
  return kExitOk;
}

}  // namespace

Command addInjectCommand(CLI::App& root) {
  auto options = std::make_shared<InjectOptions>();
  CLI::App* app = root.add_subcommand(
      "inject", "Inject the peergate sidecar into Pods and workload templates of manifests");
  app->add_option("-f,--filename", options->file,
                  "Manifest FILE (YAML, multi-document, or JSON) "
                  "or - for stdin")
      ->required()
      ->type_name("FILE|-");
  addOutputOption(*app, options->output, {"yaml", "json"});
  app->add_option("--config", options->config_file,
                  "The webhook's config file; its injection section sets image and ports")
      ->type_name("FILE");
  app->footer(kInjectHelp);
  return {app, [options](Streams& streams) { return runInject(*options, streams); }};
}

}  // namespace peergate::cli
