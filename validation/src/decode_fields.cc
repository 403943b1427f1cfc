#include "decode_fields.h"

#include <limits>
#include <utility>

#include "decode_messages.h"

namespace peergate::validation::detail {

using Json = nlohmann::json;

void Path::append(std::string& out) const {
  if (parent_ == nullptr) return;
  parent_->append(out);
  if (index_ != kNoIndex) {
    out += '[';
    out += std::to_string(index_);
    out += ']';
    return;
  }
  if (!out.empty()) out += '.';
  out += key_;
}

std::string Path::str() const {
  std::string out;
  append(out);
  return out;
}

void FieldReader::report(std::string_view code, const Path& path, std::string message) {
  ++error_count_;
  if (context_.errors == nullptr) return;
  const std::string relative = path.str();
  Error error;
  error.code = std::string(code);
  error.file = std::string(context_.file);
  error.document = context_.document;
  error.line = context_.line;
  if (context_.lines != nullptr) {
    if (context_.lines_prefix.empty()) {
      error.line = context_.lines->lineOf(relative);
    } else {
      std::string in_unit = context_.lines_prefix;
      if (relative.empty() && in_unit.back() == '.') in_unit.pop_back();
      in_unit += relative;
      error.line = context_.lines->lineOf(in_unit);
    }
  }
  error.path = context_.path_prefix + relative;
  if (relative.empty() && !error.path.empty() && error.path.back() == '.') error.path.pop_back();
  error.message = std::move(message);
  context_.errors->push_back(std::move(error));
}

void FieldReader::expected(const Path& path, std::string_view what, const Json& got) {
  report("schema.type", path,
         "expected " + std::string(what) + ", got " + std::string(typeName(got)));
}

void FieldReader::required(const Path& path, std::string_view how_to_fix) {
  report("schema.required", path, "is required: " + std::string(how_to_fix));
}

const Json* FieldReader::value(const Json& parent, const Path& field) const {
  if (!parent.is_object()) return nullptr;
  const auto it = parent.find(field.lastKey());
  if (it == parent.end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* FieldReader::map(const Json& parent, const Path& field, std::string_view what) {
  const Json* found = value(parent, field);
  if (found == nullptr || found->is_object()) return found;
  expected(field, what, *found);
  return nullptr;
}

const Json* FieldReader::list(const Json& parent, const Path& field, std::string_view what) {
  const Json* found = value(parent, field);
  if (found == nullptr || found->is_array()) return found;
  expected(field, what, *found);
  return nullptr;
}

std::optional<std::string> FieldReader::scalarText(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string:
      return value.get_ref<const std::string&>();
    case Json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case Json::value_t::number_float:
    case Json::value_t::boolean:
      return value.dump();
    default:
      return std::nullopt;
  }
}

std::optional<std::string> FieldReader::text(const Json& parent, const Path& field) {
  const Json* found = value(parent, field);
  if (found == nullptr) return std::nullopt;
  auto result = scalarText(*found);
  if (!result) expected(field, "a string", *found);
  return result;
}

std::optional<int64_t> FieldReader::integer(const Json& parent, const Path& field) {
  const Json* found = value(parent, field);
  if (found == nullptr) return std::nullopt;
  if (found->is_number_integer() && !found->is_number_unsigned()) return found->get<int64_t>();
  if (found->is_number_unsigned()) {
    const auto number = found->get<uint64_t>();
    if (number <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return static_cast<int64_t>(number);
    }
  }
  expected(field, "an integer", *found);
  return std::nullopt;
}

std::optional<bool> FieldReader::boolean(const Json& parent, const Path& field) {
  const Json* found = value(parent, field);
  if (found == nullptr) return std::nullopt;
  if (found->is_boolean()) return found->get<bool>();
  expected(field, "a boolean (true or false)", *found);
  return std::nullopt;
}

std::optional<Labels> FieldReader::stringMap(const Json& parent, const Path& field) {
  const Json* found = map(parent, field, "a map of string to string");
  if (found == nullptr) return std::nullopt;
  Labels labels;
  for (const auto& [name, entry] : found->items()) {
    if (entry.is_null()) {
      labels.emplace(name, "");
      continue;
    }
    auto text_value = scalarText(entry);
    if (!text_value) {
      const Path entry_path = field.key(name);
      expected(entry_path, "a string value", entry);
      continue;
    }
    labels.emplace(name, std::move(*text_value));
  }
  return labels;
}

}  // namespace peergate::validation::detail
