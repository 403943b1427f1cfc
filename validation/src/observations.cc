#include "peergate/validation/observations.h"

#include <new>
#include <utility>

#include <nlohmann/json.hpp>

#include "decode_document.h"
#include "decode_fields.h"
#include "decode_messages.h"

namespace peergate::validation {
namespace {

using Json = nlohmann::json;
using detail::FieldReader;
using detail::Path;

constexpr std::string_view kApiVersion = "peergate.io/v1alpha1";
constexpr std::string_view kKind = "Observations";
constexpr std::string_view kSecurityValues =
    "expected \"plaintext\", \"mtls\" or \"tls_passthrough\"";

void expectConstant(const Json& root, const Path& field, std::string_view wanted,
                    FieldReader& reader) {
  if (reader.value(root, field) == nullptr) {
    reader.required(field, std::string(field.lastKey()) + ": " + std::string(wanted));
    return;
  }
  if (auto text = reader.text(root, field); text && *text != wanted) {
    reader.report("schema.value", field,
                  "expected " + std::string(wanted) + ", got " + detail::quoteText(*text));
  }
}

Observation readObservation(const Json& entry, const Path& entry_path, FieldReader& reader) {
  Observation observation;

  const Path destination_path = entry_path.key("destination");
  const Json* destination = reader.map(entry, destination_path);
  if (destination == nullptr && reader.value(entry, destination_path) == nullptr) {
    reader.required(destination_path, "every observation names its destination");
  }
  if (destination != nullptr) {
    const Path namespace_path = destination_path.key("namespace");
    observation.namespace_name = reader.text(*destination, namespace_path).value_or("");
    if (observation.namespace_name.empty() &&
        reader.value(*destination, namespace_path) == nullptr) {
      reader.required(namespace_path, "the destination namespace");
    } else if (observation.namespace_name.empty()) {
      reader.report("schema.value", namespace_path, "must not be empty");
    }
    const Path workload_path = destination_path.key("workload");
    observation.workload = reader.text(*destination, workload_path).value_or("");
    const Path pod_path = destination_path.key("pod");
    observation.pod = reader.text(*destination, pod_path).value_or("");
    const Path port_path = destination_path.key("port");
    if (auto port = reader.integer(*destination, port_path)) {
      observation.port = *port;
      if (*port < 1 || *port > 65535) {
        reader.report("schema.value", port_path,
                      "port " + std::to_string(*port) + " is outside 1..65535");
      }
    } else if (reader.value(*destination, port_path) == nullptr) {
      reader.required(port_path, "the destination container port (1..65535)");
    }
  }

  const Path security_path = entry_path.key("security");
  if (auto security = reader.text(entry, security_path)) {
    if (*security != "plaintext" && *security != "mtls" && *security != "tls_passthrough") {
      reader.report("schema.value", security_path,
                    std::string(kSecurityValues) + ", got " + detail::quoteText(*security));
    }
    observation.security = std::move(*security);
  } else if (reader.value(entry, security_path) == nullptr) {
    reader.required(security_path, "\"plaintext\", \"mtls\" or \"tls_passthrough\"");
  }

  const Path source_path = entry_path.key("source");
  if (const Json* source = reader.map(entry, source_path)) {
    const Path ip_path = source_path.key("ip");
    observation.source_ip = reader.text(*source, ip_path).value_or("");
    const Path identity_path = source_path.key("identity");
    observation.source_identity = reader.text(*source, identity_path).value_or("");
    const Path workload_path = source_path.key("workload");
    observation.source_workload = reader.text(*source, workload_path).value_or("");
  }

  const Path count_path = entry_path.key("count");
  if (auto count = reader.integer(entry, count_path)) {
    observation.count = *count;
    if (*count < 0) reader.report("schema.value", count_path, "a count cannot be negative");
  }
  const Path last_seen_path = entry_path.key("lastSeen");
  observation.last_seen = reader.text(entry, last_seen_path).value_or("");
  return observation;
}

// An observations file is one document: its errors carry no document index (-1, which
// describe() leaves out).
Error firstOf(std::vector<Error> errors) {
  Error first = std::move(errors.front());
  first.document = -1;
  if (errors.size() > 1) {
    first.message += " (and " + std::to_string(errors.size() - 1) + " more problem" +
                     (errors.size() > 2 ? "s" : "") + ")";
  }
  return first;
}

Result<Observations> decode(std::string_view text, std::string_view file) {
  detail::SingleDocument document = detail::readSingleDocument(text);
  for (Error& error : document.errors) error.file = std::string(file);
  if (!document.errors.empty()) return firstOf(std::move(document.errors));

  std::vector<Error> errors;
  detail::DecodeContext context;
  context.file = file;
  context.line = document.lines.unitLine();
  context.lines = &document.lines;
  context.errors = &errors;
  FieldReader reader(context);

  const Json& root = document.root;
  const Path root_path;
  if (!root.is_object()) {
    reader.expected(root_path, "an Observations document (a map with apiVersion and kind)", root);
    return firstOf(std::move(errors));
  }
  const Path api_version_path = root_path.key("apiVersion");
  expectConstant(root, api_version_path, kApiVersion, reader);
  const Path kind_path = root_path.key("kind");
  expectConstant(root, kind_path, kKind, reader);

  Observations observations;
  const Path window_path = root_path.key("window");
  if (const Json* window = reader.map(root, window_path)) {
    const Path start_path = window_path.key("start");
    observations.window_start = reader.text(*window, start_path).value_or("");
    const Path end_path = window_path.key("end");
    observations.window_end = reader.text(*window, end_path).value_or("");
  }
  const Path entries_path = root_path.key("observations");
  if (const Json* entries = reader.list(root, entries_path)) {
    observations.entries.reserve(entries->size());
    for (std::size_t i = 0; i < entries->size(); ++i) {
      const Path entry_path = entries_path.index(i);
      const Json& entry = (*entries)[i];
      if (!entry.is_object()) {
        reader.expected(entry_path, "a map with destination, security and count", entry);
        continue;
      }
      observations.entries.push_back(readObservation(entry, entry_path, reader));
    }
  }
  if (!errors.empty()) return firstOf(std::move(errors));
  return observations;
}

}  // namespace

Result<Observations> decodeObservations(std::string_view text, std::string_view file) {
  try {
    return decode(text, file);
  } catch (const std::bad_alloc&) {
    return Error{"limit.memory", std::string(file), -1, 0, "", "ran out of memory"};
  } catch (const std::exception& error) {
    Error internal;
    internal.code = "decode.internal";
    internal.file = std::string(file);
    internal.document = -1;
    internal.message = std::string("internal error while decoding observations: ") + error.what();
    return internal;
  }
}

}  // namespace peergate::validation
