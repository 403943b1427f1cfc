#include "../../../webhook/src/http_request.h"

#include <string>
#include <tuple>

#include <catch2/catch.hpp>

namespace peergate::webhook {
namespace {

HeadParse parse(std::string_view data, HttpRequestHead& head, std::size_t limit = 4096) {
  std::size_t scan_from = 0;
  return parseRequestHead(data, limit, head, scan_from);
}

std::string decodeAll(BodyDecoder& decoder, std::string_view data, std::size_t piece,
                      std::size_t& consumed) {
  std::string body;
  consumed = 0;
  while (consumed < data.size() && !decoder.done() && !decoder.failed()) {
    consumed += decoder.feed(data.substr(consumed, piece),
                             [&](std::string_view bytes) { body.append(bytes); });
  }
  return body;
}

TEST_CASE("parses a request head with case-insensitive header names", "[http]") {
  HttpRequestHead head;
  const std::string text =
      "POST /validate?timeout=10s HTTP/1.1\r\nHost: x\r\ncontent-TYPE: application/json\r\n"
      "CONTENT-LENGTH: 12\r\nConnection: Keep-Alive, Upgrade\r\nexpect: 100-Continue\r\n\r\nbody";
  const HeadParse result = parse(text, head);
  REQUIRE(result.status == HeadStatus::Complete);
  CHECK(result.length == text.size() - 4);
  CHECK(head.method == "POST");
  CHECK(head.target == "/validate?timeout=10s");
  CHECK(head.path() == "/validate");
  CHECK(head.content_type == "application/json");
  CHECK(head.content_length == 12u);
  CHECK(head.keep_alive);
  CHECK(head.expect_continue);
  CHECK_FALSE(head.chunked);
}

TEST_CASE("keep-alive follows the version and the Connection header", "[http]") {
  using Row = std::tuple<std::string, bool>;
  const auto [text, keep_alive] = GENERATE(table<std::string, bool>({
      Row{"GET / HTTP/1.1\r\n\r\n", true},
      Row{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      Row{"GET / HTTP/1.1\r\nconnection: upgrade, CLOSE\r\n\r\n", false},
      Row{"GET / HTTP/1.0\r\n\r\n", false},
      Row{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  }));
  CAPTURE(text);
  HttpRequestHead head;
  REQUIRE(parse(text, head).status == HeadStatus::Complete);
  CHECK(head.keep_alive == keep_alive);
}

TEST_CASE("an incomplete head waits; one over the limit is too large", "[http]") {
  HttpRequestHead head;
  std::size_t scan_from = 0;
  const std::string text = "POST /validate HTTP/1.1\r\nHost: x\r\n";
  CHECK(parseRequestHead(text, 4096, head, scan_from).status == HeadStatus::Incomplete);
  CHECK(scan_from == text.size() - 3);
  CHECK(parseRequestHead(text + "\r\n", 4096, head, scan_from).status == HeadStatus::Complete);
  const std::string big = text + "X: " + std::string(200, 'x') + "\r\n";
  scan_from = 0;
  CHECK(parseRequestHead(big, 100, head, scan_from).status == HeadStatus::TooLarge);
  scan_from = 0;
  CHECK(parseRequestHead(big + "\r\n", 100, head, scan_from).status == HeadStatus::TooLarge);
}

TEST_CASE("rejects malformed heads with a message", "[http]") {
  using Row = std::tuple<std::string, HeadStatus, std::string>;
  const auto [text, status, message] = GENERATE(table<std::string, HeadStatus, std::string>({
      Row{"\r\n\r\n", HeadStatus::Malformed, "malformed request line"},
      Row{" / HTTP/1.1\r\n\r\n", HeadStatus::Malformed, "no valid method"},
      Row{"GET  HTTP/1.1\r\n\r\n", HeadStatus::Malformed, "bad request target"},
      Row{"GET / HTTP/1.2\r\n\r\n", HeadStatus::Malformed, "unsupported HTTP version"},
      Row{"GET / http/1.1\r\n\r\n", HeadStatus::Malformed, "unsupported HTTP version"},
      Row{"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", HeadStatus::Malformed, "malformed header"},
      Row{"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", HeadStatus::Malformed, "folding"},
      Row{"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", HeadStatus::Malformed,
          "invalid Content-Length"},
      Row{"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", HeadStatus::Malformed,
          "conflicting Content-Length"},
      Row{"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", HeadStatus::Malformed,
          "invalid Content-Length"},
      Row{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
          HeadStatus::Malformed, "both Content-Length"},
      Row{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", HeadStatus::Unsupported,
          "unsupported Transfer-Encoding"},
  }));
  CAPTURE(text);
  HttpRequestHead head;
  const HeadParse result = parse(text, head);
  CHECK(result.status == status);
  CHECK_THAT(result.error, Catch::Contains(message));
}

TEST_CASE("decodes Content-Length bodies without taking the next request's bytes", "[http]") {
  BodyDecoder decoder = BodyDecoder::fixed(5);
  std::size_t consumed = 0;
  CHECK(decodeAll(decoder, "helloGET /", 3, consumed) == "hello");
  CHECK(consumed == 5);
  CHECK(decoder.done());
  CHECK(BodyDecoder::fixed(0).done());
}

TEST_CASE("decodes chunked bodies fed in any pieces, with extensions and trailers", "[http]") {
  const std::string wire =
      "5;ext=1\r\nhello\r\n7 ; a=\"b\"\r\n, world\r\nA\r\n0123456789\r\n0\r\nTrailer: "
      "x\r\n\r\nNEXT";
  const std::size_t piece = GENERATE(1u, 2u, 7u, 1000u);
  CAPTURE(piece);
  BodyDecoder decoder = BodyDecoder::chunked();
  std::size_t consumed = 0;
  CHECK(decodeAll(decoder, wire, piece, consumed) == "hello, world0123456789");
  CHECK(decoder.done());
  CHECK(wire.substr(consumed) == "NEXT");
}

TEST_CASE("rejects malformed chunked bodies", "[http]") {
  const std::string wire =
      GENERATE(std::string("zz\r\n"), std::string("\r\n"), std::string("3\r\nabcd\r\n"),
               std::string("3\nabc\r\n"), std::string("-3\r\nabc\r\n"),
               std::string("fffffffffffffffffff\r\n"));
  CAPTURE(wire);
  BodyDecoder decoder = BodyDecoder::chunked();
  std::size_t consumed = 0;
  decodeAll(decoder, wire, 1000, consumed);
  CHECK(decoder.failed());
  CHECK_THAT(decoder.error(), Catch::StartsWith("malformed chunked body"));
}

}  // namespace
}  // namespace peergate::webhook
