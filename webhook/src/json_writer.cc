#include "json_writer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace peergate::webhook {
namespace {

// Printable ASCII is written as it is, save for the two characters JSON escapes.
bool isPlainAscii(char c) { return c >= 0x20 && c < 0x7F; }
bool isEscaped(char c) { return c == '"' || c == '\\'; }

// Appends `value` quoted when it is printable ASCII; false (and nothing appended) otherwise.
bool appendPlainAscii(std::string& out, std::string_view value) {
  const std::size_t start = out.size();
  out += '"';
  while (!value.empty()) {
    const auto special = std::find_if(value.begin(), value.end(),
                                      [](char c) { return isEscaped(c) || !isPlainAscii(c); });
    out.append(value.begin(), special);
    if (special == value.end()) break;
    if (!isEscaped(*special)) {
      out.resize(start);
      return false;
    }
    out.append({'\\', *special});
    value.remove_prefix(static_cast<std::size_t>(special - value.begin()) + 1);
  }
  out += '"';
  return true;
}

}  // namespace

void JsonWriter::separate() {
  if (!first_) text_ += ',';
  first_ = false;
}

void JsonWriter::open(char bracket) {
  separate();
  text_ += bracket;
  first_ = true;
}

void JsonWriter::close(char bracket) {
  text_ += bracket;
  first_ = false;
}

void JsonWriter::key(std::string_view name) {
  string(name);
  text_ += ':';
  first_ = true;  // the value that follows takes no comma
}

void JsonWriter::string(std::string_view value) {
  separate();
  if (appendPlainAscii(text_, value)) return;
  // Control characters, UTF-8 and invalid bytes: nlohmann's own escaping and replacement.
  text_ += nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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
