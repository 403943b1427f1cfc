#include "json_writer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace peergate::webhook {
namespace {

// Printable ASCII is written as it is, save for the two characters JSON escapes.
bool isPlainAscii(char c) { return c >= 0x20 && c < 0x7F; }

void appendPlainAscii(std::string& out, std::string_view value) {
  while (!value.empty()) {
    const std::size_t special = std::min(value.find_first_of("\"\\"), value.size());
    out.append(value.substr(0, special));
    if (special == value.size()) return;
    out.append({'\\', value[special]});
    value.remove_prefix(special + 1);
  }
}

}  // namespace

void JsonWriter::separate() {
  if (!first_) text_ += ',';
  first_ = false;
}

void JsonWriter::beginObject() {
  separate();
  text_ += '{';
  first_ = true;
}

void JsonWriter::endObject() {
  text_ += '}';
  first_ = false;
}

void JsonWriter::beginArray() {
  separate();
  text_ += '[';
  first_ = true;
}

void JsonWriter::endArray() {
  text_ += ']';
  first_ = false;
}

void JsonWriter::key(std::string_view name) {
  string(name);
  text_ += ':';
  first_ = true;  // the value that follows takes no comma
}

void JsonWriter::string(std::string_view value) {
  separate();
  if (!std::all_of(value.begin(), value.end(), isPlainAscii)) {
    // Control characters, UTF-8 and invalid bytes: nlohmann's own escaping and replacement.
    text_ += nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  text_ += '"';
  appendPlainAscii(text_, value);
  text_ += '"';
}

void JsonWriter::integer(long long value) {
  separate();
  text_ += std::to_string(value);
}

void JsonWriter::boolean(bool value) {
  separate();
  text_ += value ? "true" : "false";
}

}  // namespace peergate::webhook
