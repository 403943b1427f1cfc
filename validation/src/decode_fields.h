#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "decode_lines.h"
#include "peergate/validation/model.h"
#include "peergate/validation/result.h"

namespace peergate::validation::detail {

// Where the object being decoded comes from, and where its errors go.
struct DecodeContext {
  std::string_view file;
  int document = 0;         // document index, or item index inside a List
  int line = 0;             // line of the object's start; 0 when unknown
  std::string path_prefix;  // "items[3]." inside a List: prepended to every error path
  const LineIndex* lines = nullptr;
  std::string lines_prefix;       // prefix of this object's paths inside `lines` (nested Lists)
  std::string_view default_kind;  // PodList items may omit `kind`: "Pod"
  std::string_view default_api_version;
  std::vector<Error>* errors = nullptr;
};

// A field path built on the stack while walking an object, turned into text (`spec.ports[1]`)
// only when an error needs it. A Path refers to its parent: keep parents in named variables
// (`const Path spec = root.key("spec");`), never chain temporaries into a stored Path.
class Path {
 public:
  Path() = default;  // the object itself
  Path key(std::string_view name) const { return {this, name, kNoIndex}; }
  Path index(std::size_t position) const { return {this, {}, position}; }

  // The key this path ends with ("" for an index or the root).
  std::string_view lastKey() const { return key_; }
  std::string str() const;

 private:
  static constexpr std::size_t kNoIndex = static_cast<std::size_t>(-1);
  Path(const Path* parent, std::string_view key, std::size_t index)
      : parent_(parent), key_(key), index_(index) {}
  void append(std::string& out) const;

  const Path* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = kNoIndex;
};

// Reads fields of an untrusted object with type checks. Every accessor takes the parent map and
// the path of the field (whose last key names it); absent and null fields read as absent; a
// field of the wrong type is reported as a "schema.type" error and also reads as absent, so a
// decoder can go on and report every problem of the object at once.
class FieldReader {
 public:
  explicit FieldReader(const DecodeContext& context) : context_(context) {}

  const DecodeContext& context() const { return context_; }
  bool failed() const { return error_count_ > 0; }
  int errorCount() const { return error_count_; }

  void report(std::string_view code, const Path& path, std::string message);
  // "expected <what>, got <type of value>"
  void expected(const Path& path, std::string_view what, const nlohmann::json& got);
  void required(const Path& path, std::string_view how_to_fix);

  const nlohmann::json* value(const nlohmann::json& parent, const Path& field) const;
  const nlohmann::json* map(const nlohmann::json& parent, const Path& field,
                            std::string_view what = "a map");
  const nlohmann::json* list(const nlohmann::json& parent, const Path& field,
                             std::string_view what = "a list");
  // Strings; numbers and booleans are taken as their text.
  std::optional<std::string> text(const nlohmann::json& parent, const Path& field);
  std::optional<int64_t> integer(const nlohmann::json& parent, const Path& field);
  std::optional<bool> boolean(const nlohmann::json& parent, const Path& field);
  // A map of string to string (labels, annotations, selectors); scalar values become text.
  std::optional<Labels> stringMap(const nlohmann::json& parent, const Path& field);

  // The text of a scalar ("8080", "true", "x"); nullopt for maps, lists and null.
  static std::optional<std::string> scalarText(const nlohmann::json& value);

 private:
  const DecodeContext& context_;
  int error_count_ = 0;
};

}  // namespace peergate::validation::detail
