// Drives the admission port's HTTP/1.1 request parsing with arbitrary bytes, as any client that
// completes a TLS handshake can send them. Whatever the input, the head parser must stay within
// the bytes and its limit, and the body decoder must consume no more than it is given (the rest
// is the next pipelined request), fed at once or byte by byte alike.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../../webhook/src/http_request.h"

namespace {

using peergate::webhook::BodyDecoder;
using peergate::webhook::HeadParse;
using peergate::webhook::HeadStatus;
using peergate::webhook::HttpRequestHead;

constexpr std::size_t kHeadLimit = 1024;

struct Decoded {
  std::string body;
  std::size_t consumed = 0;
  bool done = false;
  bool failed = false;
};

Decoded decode(BodyDecoder decoder, std::string_view data, std::size_t piece) {
  Decoded out;
  while (out.consumed < data.size() && !decoder.done() && !decoder.failed()) {
    const std::string_view next = data.substr(out.consumed, piece);
    const std::size_t used = decoder.feed(next, [&](std::string_view bytes) { out.body += bytes; });
    if (used > next.size()) __builtin_trap();
    // Short of the end of the body, every byte given is part of it.
    if (!decoder.done() && !decoder.failed() && used != next.size()) __builtin_trap();
    out.consumed += used;
  }
  out.done = decoder.done();
  out.failed = decoder.failed();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  HttpRequestHead head;
  std::size_t scan_from = 0;
  const HeadParse parse = peergate::webhook::parseRequestHead(bytes, kHeadLimit, head, scan_from);
  if (scan_from > size) __builtin_trap();
  if (parse.status != HeadStatus::Complete) return 0;
  if (parse.length == 0 || parse.length > size || parse.length > kHeadLimit) __builtin_trap();
  if (head.chunked && head.content_length) __builtin_trap();  // must have been refused
  const std::string_view rest = bytes.substr(parse.length);
  const auto fresh = [&] {
    return head.chunked ? BodyDecoder::chunked()
                        : BodyDecoder::fixed(head.content_length.value_or(0));
  };
  const Decoded whole = decode(fresh(), rest, rest.size() + 1);
  const Decoded split = decode(fresh(), rest, 1);
  if (whole.consumed > rest.size()) __builtin_trap();
  // Framing does not depend on how the bytes arrive.
  if (whole.done != split.done || whole.failed != split.failed) __builtin_trap();
  if (whole.done && (whole.body != split.body || whole.consumed != split.consumed)) {
    __builtin_trap();
  }
  return 0;
}
