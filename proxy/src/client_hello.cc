// RFC 8446 §5.1 (records), §4 (handshake header), §4.1.2 (ClientHello), RFC 7301 §3.1 (ALPN).
// Untrusted input: every length is checked against the bytes that contain it before it is used.
#include "peergate/proxy/client_hello.h"

#include <algorithm>
#include <cstdint>

namespace peergate::proxy {
namespace {

using Status = ClientHelloScan::Status;
using Bytes = std::span<const unsigned char>;

constexpr unsigned char kHandshakeRecord = 0x16;
constexpr unsigned char kTlsMajorVersion = 0x03;  // every TLS version and SSLv3
constexpr unsigned char kClientHello = 0x01;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kMaxRecordPayload = 16384;  // 2^14: a larger plaintext record is an error
constexpr std::uint16_t kAlpnExtension = 16;

constexpr std::string_view kMeshAlpn[] = {
    "peergate-mux/1", "peergate",       "istio",   "istio-peer-exchange",
    "istio-http/1.0", "istio-http/1.1", "istio-h2"};

ClientHelloScan verdict(Status status, std::size_t needed = 0) {
  ClientHelloScan scan;
  scan.status = status;
  scan.needed = needed;
  return scan;
}

// Reads big-endian integers and length-delimited fields; once a read runs past the end, every
// later read fails too.
class Reader {
 public:
  explicit Reader(Bytes bytes) : bytes_(bytes) {}

  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool u8(std::size_t& value) { return integer(1, value); }
  bool u16(std::size_t& value) { return integer(2, value); }
  bool take(std::size_t size, Bytes& out) {
    if (!ok_ || size > remaining()) return ok_ = false;
    out = bytes_.subspan(pos_, size);
    pos_ += size;
    return true;
  }
  bool skip(std::size_t size) {
    Bytes ignored;
    return take(size, ignored);
  }

 private:
  bool integer(std::size_t size, std::size_t& value) {
    Bytes field;
    if (!take(size, field)) return false;
    value = 0;
    for (unsigned char byte : field) value = value << 8 | byte;
    return true;
  }

  Bytes bytes_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// ProtocolNameList: a 2-byte length that fills the extension, then names of 1..255 bytes.
bool readAlpn(Bytes data, std::vector<std::string>& out) {
  Reader reader(data);
  std::size_t list_size = 0;
  if (!reader.u16(list_size) || list_size < 2 || list_size != reader.remaining()) return false;
  while (reader.remaining() > 0) {
    std::size_t size = 0;
    Bytes name;
    if (!reader.u8(size) || size == 0 || !reader.take(size, name)) return false;
    out.emplace_back(name.begin(), name.end());
  }
  return true;
}

// The ClientHello body (after its handshake header).
ClientHelloScan readClientHello(Bytes body) {
  Reader reader(body);
  std::size_t session_id = 0;
  std::size_t cipher_suites = 0;
  std::size_t compression_methods = 0;
  const bool fixed_part = reader.skip(2 + 32) &&  // legacy_version, random
                          reader.u8(session_id) && session_id <= 32 && reader.skip(session_id) &&
                          reader.u16(cipher_suites) && cipher_suites >= 2 &&
                          cipher_suites % 2 == 0 && reader.skip(cipher_suites) &&
                          reader.u8(compression_methods) && compression_methods >= 1 &&
                          reader.skip(compression_methods);
  if (!fixed_part) return verdict(Status::Malformed);
  ClientHelloScan scan = verdict(Status::Parsed);
  if (reader.remaining() == 0) return scan;  // no extensions at all (TLS 1.2 allows it)
  std::size_t extensions = 0;
  if (!reader.u16(extensions) || extensions != reader.remaining()) {
    return verdict(Status::Malformed);
  }
  bool seen_alpn = false;
  while (reader.remaining() > 0) {
    std::size_t type = 0;
    std::size_t size = 0;
    Bytes data;
    if (!reader.u16(type) || !reader.u16(size) || !reader.take(size, data)) {
      return verdict(Status::Malformed);
    }
    if (type != kAlpnExtension) continue;
    // Two extensions of one type are forbidden; which one a server would read is anyone's guess.
    if (seen_alpn || !readAlpn(data, scan.alpn)) return verdict(Status::Malformed);
    seen_alpn = true;
  }
  return scan;
}

}  // namespace

ClientHelloScan scanClientHello(Bytes bytes, std::size_t max_bytes) {
  if (bytes.empty()) return verdict(Status::NeedMore, 1);
  if (bytes[0] != kHandshakeRecord || (bytes.size() >= 2 && bytes[1] != kTlsMajorVersion)) {
    return verdict(Status::NotTls);
  }
  // The handshake message may be cut into several records: their payloads, concatenated. The
  // usual single record is read in place.
  std::vector<unsigned char> assembled;
  Bytes message;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t header_end = pos + kRecordHeader;
    if (header_end > max_bytes) return verdict(Status::TooLarge);
    if (header_end > bytes.size()) return verdict(Status::NeedMore, header_end);
    if (bytes[pos] != kHandshakeRecord || bytes[pos + 1] != kTlsMajorVersion) {
      return verdict(Status::Malformed);  // the ClientHello must come first, alone
    }
    const std::size_t payload = std::size_t{bytes[pos + 3]} << 8 | bytes[pos + 4];
    if (payload == 0 || payload > kMaxRecordPayload) return verdict(Status::Malformed);
    const std::size_t record_end = header_end + payload;
    if (record_end > max_bytes) return verdict(Status::TooLarge);
    if (record_end > bytes.size()) return verdict(Status::NeedMore, record_end);
    const Bytes fragment = bytes.subspan(header_end, payload);
    if (pos == 0) {
      message = fragment;
    } else {
      if (assembled.empty()) assembled.assign(message.begin(), message.end());
      assembled.insert(assembled.end(), fragment.begin(), fragment.end());
      message = assembled;
    }
    pos = record_end;
    if (message.size() < kHandshakeHeader) continue;
    if (message[0] != kClientHello) return verdict(Status::Malformed);
    const std::size_t length =
        std::size_t{message[1]} << 16 | std::size_t{message[2]} << 8 | message[3];
    const std::size_t total = kHandshakeHeader + length;
    if (message.size() >= total) return readClientHello(message.subspan(kHandshakeHeader, length));
    // At least one more record header and the missing bytes.
    if (pos + kRecordHeader + (total - message.size()) > max_bytes) {
      return verdict(Status::TooLarge);
    }
  }
}

bool isMeshAlpn(std::string_view protocol) {
  return std::find(std::begin(kMeshAlpn), std::end(kMeshAlpn), protocol) != std::end(kMeshAlpn);
}

bool offersMeshAlpn(const ClientHelloScan& scan) {
  return scan.status == Status::Parsed &&
         std::any_of(scan.alpn.begin(), scan.alpn.end(),
                     [](const std::string& protocol) { return isMeshAlpn(protocol); });
}

std::string alpnWireFormat(std::span<const std::string_view> protocols) {
  std::string wire;
  for (std::string_view protocol : protocols) {
    wire += static_cast<char>(protocol.size());
    wire += protocol;
  }
  return wire;
}

}  // namespace peergate::proxy
