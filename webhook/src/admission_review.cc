#include "admission_review.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "json_patch.h"
#include "json_writer.h"
#include "peergate/validation/decode.h"

namespace peergate::webhook {
namespace {

using nlohmann::json;

const json* member(const json& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// Reads fields of untrusted JSON with type checks; keeps the first problem as a 400 reply.
class FieldReader {
 public:
  void text(const json& object, const std::string& key, const std::string& path, std::string& out,
            bool required) {
    const json* value = member(object, key);
    if (value == nullptr || value->is_null()) {
      if (required) fail(path + " is missing");
    } else if (!value->is_string()) {
      fail(path + " must be a string, not " + value->type_name());
    } else {
      out = value->get<std::string>();
      if (required && out.empty()) fail(path + " is empty");
    }
  }

  void flag(const json& object, const std::string& key, const std::string& path, bool& out) {
    const json* value = member(object, key);
    if (value == nullptr || value->is_null()) return;
    if (!value->is_boolean()) return fail(path + " must be true or false");
    out = value->get<bool>();
  }

  // Moves an embedded object out; `null` and a missing key both leave `out` null.
  void embedded(json& object, const std::string& key, const std::string& path, json& out) {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return;
    if (!it->is_object()) return fail(path + " must be a JSON object or null");
    out = std::move(*it);
  }

  void fail(std::string message) {
    if (!error) error = errorResponse(400, "invalid AdmissionReview: " + std::move(message));
  }

  std::optional<AdmissionResponse> error;
};

void readEnvelope(const json& review, AdmissionRequest& request, FieldReader& reader) {
  std::string api_version;
  reader.text(review, "apiVersion", "apiVersion", api_version, true);
  if (api_version == kAdmissionV1 || api_version == kAdmissionV1beta1) {
    request.api_version = api_version;
  } else if (!api_version.empty()) {
    reader.fail("apiVersion \"" + api_version + "\" is not served; use " +
                std::string(kAdmissionV1) + " or " + std::string(kAdmissionV1beta1));
  }
  std::string kind;
  reader.text(review, "kind", "kind", kind, true);
  if (!kind.empty() && kind != "AdmissionReview") {
    reader.fail("kind must be AdmissionReview, not \"" + kind + "\"");
  }
}

void readRequestFields(json& fields, AdmissionRequest& request, FieldReader& reader) {
  const json empty = json::object();
  const json* kind = member(fields, "kind");
  const json& gvk = kind ? *kind : empty;
  reader.text(fields, "operation", "request.operation", request.operation, true);
  reader.text(gvk, "kind", "request.kind.kind", request.kind.kind, true);
  reader.text(gvk, "group", "request.kind.group", request.kind.group, false);
  reader.text(gvk, "version", "request.kind.version", request.kind.version, false);
  const json* resource = member(fields, "resource");
  reader.text(resource ? *resource : empty, "resource", "request.resource.resource",
              request.resource, false);
  reader.text(fields, "subResource", "request.subResource", request.sub_resource, false);
  reader.text(fields, "name", "request.name", request.name, false);
  reader.text(fields, "namespace", "request.namespace", request.namespace_name, false);
  const json* user = member(fields, "userInfo");
  reader.text(user ? *user : empty, "username", "request.userInfo.username", request.username,
              false);
  reader.flag(fields, "dryRun", "request.dryRun", request.dry_run);
  reader.embedded(fields, "object", "request.object", request.object);
  reader.embedded(fields, "oldObject", "request.oldObject", request.old_object);
}

bool isControl(unsigned char c, unsigned char next) {
  return c < 0x20 || c == 0x7F || (c == 0xC2 && next >= 0x80 && next <= 0x9F);
}

// What a byte means to flatten: kept, a space (two in a row collapse), or a byte flatten may
// change (C0, DEL, and 0xC2, which leads a C1 character).
enum class FlatByte : unsigned char { Kept, Space, Suspect };

constexpr std::array<FlatByte, 256> kFlatBytes = [] {
  std::array<FlatByte, 256> bytes{};
  for (std::size_t c = 0; c < 0x20; ++c) bytes[c] = FlatByte::Suspect;
  bytes[0x7F] = bytes[0xC2] = FlatByte::Suspect;
  bytes[' '] = FlatByte::Space;
  return bytes;
}();

// True when flatten would return the text as it is: the common case (messages peergate wrote
// itself), checked with one table lookup per byte and without building a copy.
bool isFlat(std::string_view text) {
  if (!text.empty() && (text.front() == ' ' || text.back() == ' ')) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    switch (kFlatBytes[static_cast<unsigned char>(text[i])]) {
      case FlatByte::Kept:
        break;
      case FlatByte::Space:
        if (i + 1 < text.size() && text[i + 1] == ' ') return false;
        break;
      case FlatByte::Suspect:
        return false;
    }
  }
  return true;
}

// Control characters (C0, DEL, C1) to single spaces; runs of spaces collapsed; trimmed.
std::string flatten(std::string_view text) {
  if (isFlat(text)) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = static_cast<unsigned char>(i + 1 < text.size() ? text[i + 1] : '\0');
    const bool control = isControl(c, next);
    if (control && c == 0xC2) ++i;  // a C1 character is two bytes in UTF-8
    const char ch = control ? ' ' : text[i];
    if (ch == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += ch;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool isContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Byte offset where the `count`-th rune starts (text.size() when there are fewer).
std::size_t runeOffset(std::string_view text, std::size_t count) {
  std::size_t runes = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (isContinuation(text[i])) continue;
    if (runes++ == count) return i;
  }
  return text.size();
}

// Cuts `text` at byte `cut` (a rune boundary), backing up to a space when one is near.
std::string cutWithEllipsis(const std::string& text, std::size_t cut) {
  const std::size_t space = text.rfind(' ', cut);
  if (space != std::string::npos && space > cut - cut / 4) cut = space;
  std::string out = text.substr(0, cut);
  while (!out.empty() && (out.back() == ' ' || out.back() == ',' || out.back() == ';')) {
    out.pop_back();
  }
  return out + "...";
}

std::string shortenToRunes(const std::string& text, std::size_t max_runes) {
  if (runeOffset(text, max_runes) == text.size()) return text;
  return cutWithEllipsis(text, runeOffset(text, max_runes - 3));
}

std::string refText(const validation::ObjectRef& ref) {
  return ref.namespace_name.empty() ? ref.name : ref.namespace_name + "/" + ref.name;
}

bool isUnset(const json* value) { return !value || value->is_null() || *value == ""; }

bool takesGeneratedName(const json& meta) {
  const json* generate = member(meta, "generateName");
  return isUnset(member(meta, "name")) && generate && generate->is_string();
}

bool takesRequestNamespace(const json& meta, const AdmissionRequest& request) {
  return isUnset(member(meta, "namespace")) && !request.namespace_name.empty() &&
         request.kind.kind != "Namespace";
}

// The API server sets metadata.namespace before admission, but be lenient with clients that
// post by hand; with generateName the name is "" until storage, so give it a stand-in.
bool lacksImplicitMeta(const json& object, const AdmissionRequest& request) {
  const json* meta = member(object, "metadata");
  if (!meta || !meta->is_object()) return false;
  return takesGeneratedName(*meta) || takesRequestNamespace(*meta, request);
}

void fillImplicitMeta(json& object, const AdmissionRequest& request) {
  json& meta = object["metadata"];
  if (takesGeneratedName(meta)) {
    meta["name"] = meta["generateName"].get<std::string>().substr(0, 58) + "xxxxx";
  }
  if (takesRequestNamespace(meta, request)) meta["namespace"] = request.namespace_name;
}

template <typename T>
bool takeOnly(const std::vector<T>& objects, RequestObject& out) {
  if (objects.size() != 1) return false;
  out.ref = objects.front().ref();
  out.meta = objects.front().meta;
  return true;
}

// Finds the one decoded object of the requested kind.
bool findDecoded(const std::string& kind, RequestObject& out) {
  const validation::Inputs& in = out.inputs;
  if (kind == "PeerAuthentication") return takeOnly(in.peer_authentications, out);
  if (kind == "DestinationRule") return takeOnly(in.destination_rules, out);
  if (kind == "Namespace") return takeOnly(in.namespaces, out);
  if (kind == "Service") return takeOnly(in.services, out);
  return takeOnly(in.workloads, out);
}

std::string kindOf(const json& object) {
  const json* kind = member(object, "kind");
  return kind && kind->is_string() ? kind->get<std::string>() : std::string("(none)");
}

}  // namespace

AdmissionResponse allowResponse() { return AdmissionResponse{}; }

AdmissionResponse denyResponse(int code, std::string message) {
  AdmissionResponse response;
  response.allowed = false;
  response.code = code;
  response.message = std::move(message);
  return response;
}

AdmissionResponse errorResponse(int code, std::string message, AdmissionError reason) {
  AdmissionResponse response = denyResponse(code, std::move(message));
  response.error = reason;
  return response;
}

AdmissionResponse errorResponse(int code, std::string message) {
  AdmissionError reason = code >= 500 ? AdmissionError::Internal : AdmissionError::BadRequest;
  if (code == 413) reason = AdmissionError::BodyTooLarge;
  if (code == 404) reason = AdmissionError::UnknownRoute;
  return errorResponse(code, std::move(message), reason);
}

std::string_view statusReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 503:
      return "ServiceUnavailable";
    default:
      return code >= 500 ? "InternalError" : "";
  }
}

std::size_t jsonNestingDepth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<AdmissionResponse> decodeAdmissionReview(json& review, AdmissionRequest& request) {
  if (!review.is_object()) {
    return errorResponse(400, std::string("the body is a JSON ") + review.type_name() +
                                  ", not an AdmissionReview object");
  }
  FieldReader reader;
  const auto fields = review.find("request");
  if (fields != review.end() && fields->is_object()) {
    reader.text(*fields, "uid", "request.uid", request.uid, true);
  }
  readEnvelope(review, request, reader);
  if (fields == review.end() || !fields->is_object()) {
    reader.fail("request is missing or not an object (is this an AdmissionReview request?)");
  } else {
    readRequestFields(*fields, request, reader);
  }
  return reader.error;
}

std::optional<AdmissionResponse> decodeRequestObject(const AdmissionRequest& request,
                                                     const json& source, RequestObject& out) {
  std::optional<json> filled;  // a copy only when there is something to fill in
  if (lacksImplicitMeta(source, request)) fillImplicitMeta(filled.emplace(source), request);
  const json& object = filled ? *filled : source;
  const std::string& kind = request.kind.kind;
  const validation::DecodeOutcome decoded = validation::decodeObjectInto(
      object, validation::SourceLocation{"request.object"}, out.inputs);
  if (!decoded.ok()) {
    const validation::Error& first = decoded.errors.front();
    std::string where = first.path.empty() ? std::string() : first.path + ": ";
    std::string more = decoded.errors.size() > 1
                           ? " (and " + std::to_string(decoded.errors.size() - 1) + " more)"
                           : std::string();
    return denyResponse(400, kind + " " + refText({kind, request.namespace_name, request.name}) +
                                 " cannot be read: " + where + first.message + more);
  }
  if (!findDecoded(kind, out)) {
    return denyResponse(400, "the object is not a " + kind + " (its kind is \"" + kindOf(source) +
                                 "\"); request.kind and the object disagree");
  }
  return std::nullopt;
}

namespace {

// `status`, members in key order: code, message, reason.
void writeStatus(JsonWriter& out, const AdmissionResponse& response) {
  const int code = response.code >= 400 ? response.code : 403;
  out.key("status");
  out.beginObject();
  out.key("code");
  out.integer(code);
  out.key("message");
  out.string(oneLine(response.message, kMaxMessageBytes));
  out.key("reason");
  out.string(statusReason(code));
  out.endObject();
}

// `response`, members in key order: allowed, patch, patchType, status, uid, warnings.
void writeResponse(JsonWriter& out, const AdmissionRequest& request,
                   const AdmissionResponse& response) {
  out.key("response");
  out.beginObject();
  out.key("allowed");
  out.boolean(response.allowed);
  if (response.allowed && response.patch.is_array() && !response.patch.empty()) {
    out.key("patch");
    out.string(base64Encode(
        response.patch.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    out.key("patchType");
    out.string("JSONPatch");
  }
  if (!response.allowed) writeStatus(out, response);
  out.key("uid");
  out.string(request.uid);
  if (const std::vector<std::string> warnings = cleanWarnings(response.warnings);
      !warnings.empty()) {
    out.key("warnings");
    out.beginArray();
    for (const std::string& warning : warnings) out.string(warning);
    out.endArray();
  }
  out.endObject();
}

}  // namespace

std::string encodeAdmissionReview(const AdmissionRequest& request,
                                  const AdmissionResponse& response) {
  JsonWriter out(response.message.size() + 256);
  out.beginObject();
  out.key("apiVersion");
  out.string(request.api_version);
  out.key("kind");
  out.string("AdmissionReview");
  writeResponse(out, request, response);
  out.endObject();
  return out.take();
}

std::string oneLine(std::string_view text, std::size_t max_bytes) {
  std::string flat = flatten(text);
  if (flat.size() <= max_bytes) return flat;
  std::size_t cut = max_bytes < 3 ? 0 : max_bytes - 3;
  while (cut > 0 && isContinuation(flat[cut])) --cut;
  return cutWithEllipsis(flat, cut);
}

std::vector<std::string> cleanWarnings(const std::vector<std::string>& warnings) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& warning : warnings) {
    std::string text = shortenToRunes(flatten(warning), kMaxWarningRunes);
    if (text.empty() || !seen.insert(text).second) continue;
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace peergate::webhook
