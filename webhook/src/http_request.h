#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace peergate::webhook {

// The parts of an HTTP/1.x request head the admission server acts on. Other headers are
// checked for syntax and dropped.
struct HttpRequestHead {
  std::string method;
  std::string target;  // as sent: path and query
  int minor_version = 1;
  std::string content_type;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // HTTP/1.1 unless `Connection: close`; HTTP/1.0 only if asked
  bool expect_continue = false;

  // The target without its query string.
  std::string_view path() const;
  bool hasBody() const { return chunked || content_length.value_or(0) > 0; }
};

enum class HeadStatus {
  Incomplete,  // no blank line yet (and within the size limit)
  Complete,
  TooLarge,     // more than the limit before the blank line: 431
  Malformed,    // 400
  Unsupported,  // a transfer coding other than chunked: 501
};

struct HeadParse {
  HeadStatus status = HeadStatus::Incomplete;
  std::size_t length = 0;  // bytes of the head, blank line included (when Complete)
  std::string error;       // what is wrong (Malformed, Unsupported, TooLarge)
};

// Parses the request head at the start of `data` (request line, header fields, CRLF CRLF) when
// it is all there. `scan_from` is where the search for the blank line may resume (bytes before it
// were searched already); it is updated on Incomplete. Header names are case-insensitive.
HeadParse parseRequestHead(std::string_view data, std::size_t max_head_bytes, HttpRequestHead& head,
                           std::size_t& scan_from);

// Decodes a request body framed by Content-Length or by the chunked transfer coding, fed in
// pieces as they arrive. Chunk extensions and trailer fields are read and ignored.
class BodyDecoder {
 public:
  static BodyDecoder fixed(std::uint64_t length);
  static BodyDecoder chunked();
  BodyDecoder() = default;

  // Consumes from `data` what belongs to this body (never the next request's bytes), passing
  // body bytes to `sink(std::string_view)`; returns the bytes consumed.
  template <typename Sink>
  std::size_t feed(std::string_view data, Sink&& sink);

  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Failed; }
  const std::string& error() const { return error_; }

 private:
  enum class State { Data, SizeLine, DataEnd, Trailer, Done, Failed };
  // Chunked framing outside the data: the size line, the CRLF after data, trailer lines.
  std::size_t feedFraming(std::string_view data);
  void fail(std::string message);

  State state_ = State::Done;
  bool is_chunked_ = false;
  std::uint64_t remaining_ = 0;  // of the body (fixed) or of the current chunk (chunked)
  std::string line_;             // a framing line not yet complete
  std::size_t trailer_bytes_ = 0;
  std::string error_;
};

template <typename Sink>
std::size_t BodyDecoder::feed(std::string_view data, Sink&& sink) {
  std::size_t used = 0;
  while (used < data.size() && state_ != State::Done && state_ != State::Failed) {
    if (state_ == State::Data) {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - used));
      sink(data.substr(used, take));
      used += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = is_chunked_ ? State::DataEnd : State::Done;
      continue;
    }
    used += feedFraming(data.substr(used));
  }
  return used;
}

}  // namespace peergate::webhook
