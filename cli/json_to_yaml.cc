#include "peergate/cli/json_to_yaml.h"

#include <yaml-cpp/yaml.h>

namespace peergate::cli {
namespace {

using Json = nlohmann::ordered_json;

void emit(YAML::Emitter& out, const Json& value);

void emitObject(YAML::Emitter& out, const Json& object) {
  if (object.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  for (const auto& [key, item] : object.items()) {
    out << YAML::Key << key << YAML::Value;
    emit(out, item);
  }
  out << YAML::EndMap;
}

void emitArray(YAML::Emitter& out, const Json& array) {
  if (array.empty()) {
    out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
    return;
  }
  out << YAML::BeginSeq;
  for (const Json& item : array) emit(out, item);
  out << YAML::EndSeq;
}

void emit(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object:
      return emitObject(out, value);
    case Json::value_t::array:
      return emitArray(out, value);
    case Json::value_t::string:
      out << YAML::DoubleQuoted << value.get_ref<const std::string&>();
      return;
    case Json::value_t::boolean:
      out << value.get<bool>();
      return;
    case Json::value_t::number_integer:
      out << value.get<std::int64_t>();
      return;
    case Json::value_t::number_unsigned:
      out << value.get<std::uint64_t>();
      return;
    case Json::value_t::number_float:
      out << value.get<double>();
      return;
    default:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::string toYaml(const Json& document) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  out.SetBoolFormat(YAML::TrueFalseBool);
  out.SetIndent(2);
  emit(out, document);
  return std::string(out.c_str()) + "\n";
}

std::string toJsonText(const Json& document) {
  return document.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace peergate::cli
