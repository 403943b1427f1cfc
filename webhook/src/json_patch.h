#pragma once

// RFC 6902 JSON Patch documents, as a mutating webhook returns them (base64 of a JSON array).

#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace peergate::webhook {

// One reference token of a JSON Pointer (RFC 6901): "~" becomes "~0", then "/" becomes "~1".
std::string escapePointerToken(std::string_view token);

// "/metadata/annotations/peergate.io~1scope" from {"metadata", "annotations", "peergate.io/scope"}.
std::string jsonPointer(std::initializer_list<std::string_view> tokens);

// Standard, padded base64 (RFC 4648 §4), what AdmissionResponse.patch carries.
std::string base64Encode(std::string_view bytes);

class JsonPatch {
 public:
  // `add` creates the member, or replaces its value when it exists (RFC 6902 §4.1).
  void add(std::string path, nlohmann::json value);
  void replace(std::string path, nlohmann::json value);
  void remove(std::string path);

  bool empty() const { return ops_.empty(); }
  const nlohmann::json& ops() const { return ops_; }  // always a JSON array
  std::string toJson() const;
  std::string toBase64() const;

 private:
  nlohmann::json ops_ = nlohmann::json::array();
};

}  // namespace peergate::webhook
