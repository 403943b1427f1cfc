#pragma once

// Compact JSON text written straight into a string, byte for byte what nlohmann's
// `dump(-1, ' ', false, error_handler_t::replace)` writes for the same document, without
// building the document first. The caller writes object members in key order (nlohmann's
// objects are sorted maps), so a reply reads the same whichever way it was produced.

#include <string>
#include <string_view>

namespace peergate::webhook {

class JsonWriter {
 public:
  explicit JsonWriter(std::size_t expected_bytes = 0) { text_.reserve(expected_bytes); }

  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }
  void key(std::string_view name);
  void string(std::string_view value);
  void integer(long long value);
  void boolean(bool value);

  std::string take() { return std::move(text_); }

 private:
  void separate();  // the comma before a second member or element
  void open(char bracket);
  void close(char bracket);

  std::string text_;
  bool first_ = true;  // nothing written yet in the innermost object or array
};

}  // namespace peergate::webhook
