// scanClientHello: real ClientHellos (an OpenSSL client over memory BIOs, with the ALPN chosen
// here), the same cut short, re-cut into several records, and bytes that only look like TLS.
#include <catch2/catch.hpp>

#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "peergate/proxy/client_hello.h"

namespace peergate::proxy {
namespace {

using Status = ClientHelloScan::Status;
using Bytes = std::vector<unsigned char>;

// Concatenation, for building inputs.
Bytes operator+(Bytes left, const Bytes& right) {
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

struct HelloOptions {
  std::vector<std::string> alpn;  // {} = no ALPN extension
  int max_version = TLS1_3_VERSION;
  long max_fragment = 0;  // > 0: OpenSSL cuts the handshake into records of at most this size
};

// The first flight of an OpenSSL client: its ClientHello, as a server would receive it.
Bytes realClientHello(const HelloOptions& options = {}) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  SSL_CTX_set_max_proto_version(ctx, options.max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, "httpbin.foo.svc.cluster.local");
  if (options.max_fragment > 0) SSL_set_max_send_fragment(ssl, options.max_fragment);
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& protocol : options.alpn) {
      wire += static_cast<char>(protocol.size());
      wire += protocol;
    }
    REQUIRE(SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) == 0);
  }
  REQUIRE(SSL_connect(ssl) == -1);  // waits for the server
  Bytes hello(static_cast<std::size_t>(BIO_pending(out)));
  REQUIRE(BIO_read(out, hello.data(), static_cast<int>(hello.size())) ==
          static_cast<int>(hello.size()));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

ClientHelloScan scan(const Bytes& bytes, std::size_t max_bytes = kMaxClientHelloBytes) {
  return scanClientHello(std::span(bytes.data(), bytes.size()), max_bytes);
}

Bytes bytesOf(std::string_view text) { return Bytes(text.begin(), text.end()); }

void appendU16(Bytes& out, std::size_t value) {
  out.push_back(static_cast<unsigned char>(value >> 8));
  out.push_back(static_cast<unsigned char>(value));
}

Bytes record(const Bytes& payload, unsigned char type = 0x16) {
  Bytes out = {type, 0x03, 0x01};
  appendU16(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// One handshake message re-cut into records of the given payload sizes (the last takes the rest).
Bytes recut(const Bytes& single_record, std::vector<std::size_t> sizes) {
  const Bytes message(single_record.begin() + 5, single_record.end());
  Bytes out;
  std::size_t pos = 0;
  for (std::size_t size : sizes) {
    out = out + record(Bytes(message.begin() + static_cast<long>(pos),
                             message.begin() + static_cast<long>(pos + size)));
    pos += size;
  }
  const Bytes rest(message.begin() + static_cast<long>(pos), message.end());
  return out + record(rest);
}

// A ClientHello built by hand around `extensions` (the extensions block's content);
// `declared` overrides the block's length.
Bytes syntheticHello(const Bytes& extensions, long declared = -1) {
  Bytes body = {0x03, 0x03};
  body.insert(body.end(), 32, 0xab);                              // random
  body.push_back(0);                                              // no session id
  body.insert(body.end(), {0x00, 0x02, 0x13, 0x01, 0x01, 0x00});  // one suite, null compression
  appendU16(body, declared >= 0 ? static_cast<std::size_t>(declared) : extensions.size());
  body.insert(body.end(), extensions.begin(), extensions.end());
  Bytes message = {0x01};
  message.push_back(static_cast<unsigned char>(body.size() >> 16));
  appendU16(message, body.size() & 0xffff);
  message.insert(message.end(), body.begin(), body.end());
  return record(message);
}

Bytes extension(std::size_t type, const Bytes& data) {
  Bytes out;
  appendU16(out, type);
  appendU16(out, data.size());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes alpnExtension(const std::vector<std::string>& names) {
  Bytes list;
  for (const std::string& name : names) {
    list.push_back(static_cast<unsigned char>(name.size()));
    list.insert(list.end(), name.begin(), name.end());
  }
  Bytes data;
  appendU16(data, list.size());
  return extension(16, data + list);
}

TEST_CASE("reads the ALPN list of a real ClientHello", "[proxy][client_hello]") {
  using Names = std::vector<std::string>;
  const auto [alpn, mesh] = GENERATE(table<Names, bool>({
      {Names{}, false},
      {Names{"h2", "http/1.1"}, false},
      {Names{"http/1.1"}, false},
      {Names{"peergate", "istio"}, true},
      {Names{"h2", "istio-http/1.1"}, true},
      {Names{"istio-peer-exchange", "istio"}, true},
      {Names{"istio-h2"}, true},
      {Names{"istio-http/1.0"}, true},
      {Names{"istio-http/2"}, false},  // not a value Istio uses
      {Names{"Istio"}, false},         // ALPN values are compared byte for byte
  }));
  const int version = GENERATE(TLS1_2_VERSION, TLS1_3_VERSION);
  CAPTURE(alpn, version);
  const ClientHelloScan result = scan(realClientHello({.alpn = alpn, .max_version = version}));
  REQUIRE(result.status == Status::Parsed);
  CHECK(result.alpn == alpn);
  CHECK(offersMeshAlpn(result) == mesh);
}

TEST_CASE("a ClientHello cut short asks for more, never decides early", "[proxy][client_hello]") {
  const Bytes hello = realClientHello({.alpn = {"peergate", "istio"}});
  for (std::size_t size = 0; size < hello.size(); ++size) {
    CAPTURE(size);
    const ClientHelloScan result =
        scan(Bytes(hello.begin(), hello.begin() + static_cast<long>(size)));
    REQUIRE(result.status == Status::NeedMore);
    CHECK(result.needed > size);
    CHECK(result.needed <= hello.size());
  }
  CHECK(scan(hello).status == Status::Parsed);
}

TEST_CASE("a ClientHello split across records is reassembled", "[proxy][client_hello]") {
  const Bytes single = realClientHello({.alpn = {"h2", "peergate"}});
  const std::size_t message = single.size() - 5;
  // Cut inside the handshake header, inside the ALPN extension, and into many small records.
  const std::vector<std::size_t> cuts = GENERATE_COPY(
      std::vector<std::size_t>{2}, std::vector<std::size_t>{message / 2},
      std::vector<std::size_t>{message - 1}, std::vector<std::size_t>(message / 40, 39));
  CAPTURE(cuts.size(), cuts.front());
  const Bytes split = recut(single, cuts);
  const ClientHelloScan result = scan(split);
  REQUIRE(result.status == Status::Parsed);
  CHECK(result.alpn == std::vector<std::string>{"h2", "peergate"});
  for (std::size_t size = 0; size < split.size(); ++size) {
    CAPTURE(size);
    REQUIRE(scan(Bytes(split.begin(), split.begin() + static_cast<long>(size))).status ==
            Status::NeedMore);
  }
}

TEST_CASE("a ClientHello OpenSSL itself cut into records is reassembled", "[proxy][client_hello]") {
  std::vector<std::string> alpn;  // enough names to exceed one 512-byte record
  for (int i = 0; i < 40; ++i) alpn.push_back("protocol-name-" + std::to_string(i));
  alpn.push_back("istio");
  const Bytes hello = realClientHello({.alpn = alpn, .max_fragment = 512});
  REQUIRE(hello.size() > 512 + 2 * 5);
  CHECK(hello[5 + 512] == 0x16);  // a second record header where the first record ends
  const ClientHelloScan result = scan(hello);
  REQUIRE(result.status == Status::Parsed);
  CHECK(result.alpn == alpn);
  CHECK(offersMeshAlpn(result));
}

TEST_CASE("bytes that are not a TLS handshake record are not TLS", "[proxy][client_hello]") {
  const std::string text = GENERATE(std::string("GET / HTTP/1.1\r\n"), std::string("\x16\x04", 2),
                                    std::string("\x17\x03\x03\x00\x10", 5),  // application data
                                    std::string("\x80\x2e\x01\x00\x02", 5),  // SSLv2 hello
                                    std::string("\x16", 1) + "GET");
  CAPTURE(text);
  CHECK(scan(bytesOf(text)).status == Status::NotTls);
}

TEST_CASE("the first bytes of a record ask for the record header", "[proxy][client_hello]") {
  CHECK(scan({}).status == Status::NeedMore);
  CHECK(scan({}).needed == 1);
  const ClientHelloScan one = scan({0x16});
  CHECK(one.status == Status::NeedMore);
  CHECK(one.needed == 5);
  const ClientHelloScan header = scan({0x16, 0x03, 0x01, 0x01, 0x00});
  CHECK(header.status == Status::NeedMore);
  CHECK(header.needed == 5 + 256);
}

TEST_CASE("TLS records that do not hold a well-formed ClientHello are malformed",
          "[proxy][client_hello]") {
  const Bytes alpn = alpnExtension({"peergate"});
  const Bytes hello = syntheticHello(alpn);
  REQUIRE(scan(hello).status == Status::Parsed);  // the builder itself is sound
  REQUIRE(scan(hello).alpn == std::vector<std::string>{"peergate"});

  Bytes server_hello = hello;
  server_hello[5] = 0x02;
  Bytes empty_list = extension(16, {0x00, 0x00});
  Bytes empty_name = extension(16, {0x00, 0x04, 0x02, 'h', '2', 0x00});
  Bytes list_too_long = extension(16, {0x00, 0x09, 0x02, 'h', '2'});
  Bytes name_too_long = extension(16, {0x00, 0x03, 0x05, 'h', '2'});
  Bytes list_too_short = extension(16, {0x00, 0x02, 0x02, 'h', '2'});
  Bytes second_record_alert = recut(hello, {10});
  second_record_alert[5 + 10] = 0x15;
  Bytes short_message = hello;  // the handshake length claims less than the body holds
  short_message[8] = static_cast<unsigned char>(short_message[8] - 1);
  const auto [name, bytes] = GENERATE_COPY(table<std::string, Bytes>({
      {"not a ClientHello", server_hello},
      {"empty record", record({})},
      {"record over 2^14 bytes", Bytes{0x16, 0x03, 0x01, 0x40, 0x01}},
      {"extensions longer than the body", syntheticHello(alpn, static_cast<long>(alpn.size() + 1))},
      {"extensions shorter than the body",
       syntheticHello(alpn, static_cast<long>(alpn.size() - 1))},
      {"extension longer than the block", syntheticHello(Bytes{0x00, 0x10, 0x00, 0x30, 0x00})},
      {"empty ALPN list", syntheticHello(empty_list)},
      {"empty protocol name", syntheticHello(empty_name)},
      {"ALPN list longer than the extension", syntheticHello(list_too_long)},
      {"protocol name longer than the list", syntheticHello(name_too_long)},
      {"ALPN list shorter than the extension", syntheticHello(list_too_short)},
      {"two ALPN extensions", syntheticHello(alpn + alpnExtension({"h2"}))},
      {"an alert record inside the ClientHello", second_record_alert},
      {"a body cut by its own length", short_message},
  }));
  CAPTURE(name);
  const ClientHelloScan result = scan(bytes);
  CHECK(result.status == Status::Malformed);
  CHECK(result.alpn.empty());
  CHECK_FALSE(offersMeshAlpn(result));
}

TEST_CASE("a ClientHello that cannot fit in the byte limit is too large", "[proxy][client_hello]") {
  // A handshake length of 16 MiB: no need to wait for it.
  CHECK(scan({0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff}).status == Status::TooLarge);
  const Bytes hello = realClientHello({.alpn = {"istio"}});
  CHECK(scan(hello, hello.size()).status == Status::Parsed);
  CHECK(scan(hello, hello.size() - 1).status == Status::TooLarge);
  CHECK(scan(Bytes(hello.begin(), hello.begin() + 5), 5).status == Status::TooLarge);
}

TEST_CASE("no single corrupted byte of a real ClientHello crashes the scan",
          "[proxy][client_hello]") {
  const Bytes hello = realClientHello({.alpn = {"peergate", "istio"}});
  for (std::size_t i = 0; i < hello.size(); ++i) {
    for (unsigned char value : std::initializer_list<unsigned char>{0x00, 0x01, 0x7f, 0xff}) {
      Bytes corrupted = hello;
      corrupted[i] = value;
      const ClientHelloScan result = scan(corrupted);
      // Whatever it decides, only a parsed ClientHello has protocols.
      if (result.status != Status::Parsed) CHECK(result.alpn.empty());
      if (result.status == Status::NeedMore) CHECK(result.needed > corrupted.size());
    }
  }
}

TEST_CASE("the ALPN wire format prefixes every name with its length", "[proxy][client_hello]") {
  CHECK(alpnWireFormat(kOutboundAlpn) == std::string("\x08peergate\x05istio"));
  for (std::string_view protocol : kInboundAlpn) CHECK(isMeshAlpn(protocol));
  for (std::string_view protocol : kOutboundAlpn) CHECK(isMeshAlpn(protocol));
  CHECK(isMeshAlpn("istio-peer-exchange"));
  CHECK_FALSE(isMeshAlpn("h2"));
  CHECK_FALSE(isMeshAlpn(""));
}

}  // namespace
}  // namespace peergate::proxy
