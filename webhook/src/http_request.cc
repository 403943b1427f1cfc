#include "http_request.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace peergate::webhook {
namespace {

// A chunk-size line (size, extensions) or a trailer field longer than this is refused.
constexpr std::size_t kMaxFramingLine = 4096;
constexpr std::size_t kMaxTrailerBytes = 16 * 1024;

// RFC 9110 tchar.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}();

bool isToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return kTokenChars[static_cast<unsigned char>(c)];
  });
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == y; });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls `each` on every trimmed, non-empty element of a comma-separated list.
template <typename Each>
void forEachListElement(std::string_view list, Each&& each) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view element = trim(list.substr(0, comma));
    if (!element.empty()) each(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool validFieldValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

HeadParse malformed(std::string message) { return {HeadStatus::Malformed, 0, std::move(message)}; }

HeadParse parseRequestLine(std::string_view line, HttpRequestHead& head) {
  const std::size_t first = line.find(' ');
  const std::size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == last) {
    return malformed("malformed request line (expected METHOD TARGET HTTP/1.1)");
  }
  const std::string_view method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, last - first - 1);
  const std::string_view version = line.substr(last + 1);
  if (!isToken(method)) return malformed("malformed request line: no valid method");
  if (target.empty() || target.find(' ') != std::string_view::npos || !validFieldValue(target)) {
    return malformed("malformed request line: bad request target");
  }
  if (version == "HTTP/1.1") {
    head.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    head.minor_version = 0;
  } else {
    return malformed("unsupported HTTP version \"" + std::string(version.substr(0, 16)) +
                     "\" (HTTP/1.0 or HTTP/1.1)");
  }
  head.method.assign(method);
  head.target.assign(target);
  head.keep_alive = head.minor_version == 1;
  return {HeadStatus::Complete, 0, {}};
}

bool parseContentLength(std::string_view value, std::uint64_t& length) {
  if (value.empty() || value.size() > 19) return false;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
  return ec == std::errc() && end == value.data() + value.size();
}

}  // namespace

std::string_view HttpRequestHead::path() const {
  const std::string_view full(target);
  return full.substr(0, full.find('?'));
}

HeadParse parseRequestHead(std::string_view data, std::size_t max_head_bytes, HttpRequestHead& head,
                           std::size_t& scan_from) {
  const std::size_t end = data.find("\r\n\r\n", scan_from);
  if (end == std::string_view::npos) {
    if (data.size() > max_head_bytes) {
      return {HeadStatus::TooLarge, 0,
              "request header fields exceed " + std::to_string(max_head_bytes) + " bytes"};
    }
    scan_from = data.size() < 3 ? 0 : data.size() - 3;
    return {};
  }
  const std::size_t length = end + 4;
  if (length > max_head_bytes) {
    return {HeadStatus::TooLarge, 0,
            "request header fields exceed " + std::to_string(max_head_bytes) + " bytes"};
  }
  // Field by field, so that the strings keep their capacity from one request to the next.
  head.method.clear();
  head.target.clear();
  head.minor_version = 1;
  head.content_type.clear();
  head.content_length.reset();
  head.chunked = false;
  head.keep_alive = true;
  head.expect_continue = false;
  std::string_view rest = data.substr(0, end + 2);  // every line ends with CRLF
  std::size_t eol = rest.find("\r\n");
  if (HeadParse line = parseRequestLine(rest.substr(0, eol), head);
      line.status != HeadStatus::Complete) {
    return line;
  }
  rest.remove_prefix(eol + 2);
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool transfer_encoding = false;
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    const std::string_view field = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    if (field.front() == ' ' || field.front() == '\t') {
      return malformed("obsolete header line folding is not accepted");
    }
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || !isToken(field.substr(0, colon))) {
      return malformed("malformed header field \"" + std::string(field.substr(0, 64)) + "\"");
    }
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (!validFieldValue(value)) {
      return malformed("control character in header field " + std::string(name));
    }
    if (equalsIgnoreCase(name, "content-length")) {
      std::uint64_t length_value = 0;
      if (!parseContentLength(value, length_value)) {
        return malformed("invalid Content-Length \"" + std::string(value.substr(0, 32)) + "\"");
      }
      if (head.content_length && *head.content_length != length_value) {
        return malformed("conflicting Content-Length fields");
      }
      head.content_length = length_value;
    } else if (equalsIgnoreCase(name, "transfer-encoding")) {
      bool other = false;
      int chunked = 0;
      forEachListElement(value, [&](std::string_view coding) {
        if (equalsIgnoreCase(coding, "chunked")) {
          ++chunked;
        } else {
          other = true;
        }
      });
      if (other || transfer_encoding || chunked != 1) {
        return {HeadStatus::Unsupported, 0,
                "unsupported Transfer-Encoding \"" + std::string(value.substr(0, 64)) +
                    "\" (only chunked is accepted)"};
      }
      transfer_encoding = true;
      head.chunked = true;
    } else if (equalsIgnoreCase(name, "connection")) {
      forEachListElement(value, [&](std::string_view option) {
        if (equalsIgnoreCase(option, "close")) connection_close = true;
        if (equalsIgnoreCase(option, "keep-alive")) connection_keep_alive = true;
      });
    } else if (equalsIgnoreCase(name, "content-type")) {
      head.content_type.assign(value);
    } else if (equalsIgnoreCase(name, "expect")) {
      head.expect_continue = equalsIgnoreCase(value, "100-continue");
    }
  }
  if (head.chunked && head.content_length) {
    return malformed("both Content-Length and Transfer-Encoding: chunked");
  }
  if (connection_close) {
    head.keep_alive = false;
  } else if (head.minor_version == 0) {
    head.keep_alive = connection_keep_alive;
  }
  // A 1.0 client cannot take 100 Continue (RFC 9110 10.1.1).
  if (head.minor_version == 0) head.expect_continue = false;
  return {HeadStatus::Complete, length, {}};
}

BodyDecoder BodyDecoder::fixed(std::uint64_t length) {
  BodyDecoder decoder;
  decoder.remaining_ = length;
  decoder.state_ = length == 0 ? State::Done : State::Data;
  return decoder;
}

BodyDecoder BodyDecoder::chunked() {
  BodyDecoder decoder;
  decoder.is_chunked_ = true;
  decoder.state_ = State::SizeLine;
  return decoder;
}

void BodyDecoder::fail(std::string message) {
  state_ = State::Failed;
  error_ = std::move(message);
}

std::size_t BodyDecoder::feedFraming(std::string_view data) {
  // Collect one line (up to LF) in line_.
  const std::size_t lf = data.find('\n');
  const std::size_t take = lf == std::string_view::npos ? data.size() : lf + 1;
  line_.append(data.substr(0, take));
  if (line_.size() > kMaxFramingLine) {
    fail("malformed chunked body: framing line too long");
    return take;
  }
  if (lf == std::string_view::npos) return take;
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
    fail("malformed chunked body: line not ended by CRLF");
    return take;
  }
  const std::string_view line = std::string_view(line_).substr(0, line_.size() - 2);
  switch (state_) {
    case State::SizeLine: {
      const std::string_view size_text = line.substr(0, line.find(';'));
      const std::string_view digits = trim(size_text);
      std::uint64_t size = 0;
      const auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          digits.front() == '+' || digits.front() == '-') {
        fail("malformed chunked body: bad chunk size \"" + std::string(line.substr(0, 32)) + "\"");
        break;
      }
      remaining_ = size;
      state_ = size == 0 ? State::Trailer : State::Data;
      break;
    }
    case State::DataEnd:
      if (!line.empty()) {
        fail("malformed chunked body: chunk data longer than its size");
        break;
      }
      state_ = State::SizeLine;
      break;
    case State::Trailer:
      trailer_bytes_ += line_.size();
      if (line.empty()) {
        state_ = State::Done;
      } else if (trailer_bytes_ > kMaxTrailerBytes) {
        fail("malformed chunked body: trailer fields too large");
      }
      break;
    default:
      break;
  }
  line_.clear();
  return take;
}

}  // namespace peergate::webhook
