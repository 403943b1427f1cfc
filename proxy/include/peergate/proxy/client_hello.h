#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::proxy {

// The most bytes an inbound PERMISSIVE port peeks for a ClientHello (records included) before it
// decides "TLS without a mesh ALPN"; Envoy's tls_inspector started from the same figure.
constexpr std::size_t kMaxClientHelloBytes = 16384;

// What the first bytes of a connection say about TLS, read without consuming them.
struct ClientHelloScan {
  enum class Status {
    NotTls,     // not a TLS handshake record (0x16 0x03): plaintext
    NeedMore,   // a TLS record so far; `needed` bytes (in all) tell more
    Parsed,     // a well-formed ClientHello; `alpn` holds what it offers
    Malformed,  // TLS records that do not carry a well-formed ClientHello
    TooLarge,   // a ClientHello that does not fit in the byte limit
  };
  Status status = Status::NeedMore;
  std::size_t needed = 0;         // NeedMore: the input is shorter than this
  std::vector<std::string> alpn;  // Parsed: the ALPN protocols offered, in the client's order
};

// Reads the ClientHello at the start of `bytes`: TLS handshake records (reassembled, so a
// ClientHello may span several records and several TCP segments), the handshake header, the
// ClientHello body and its extensions, every length checked against what contains it. Pure: the
// same bytes give the same answer, so the caller peeks again with more bytes when told NeedMore.
// A ClientHello whose records would need more than `max_bytes` is TooLarge.
ClientHelloScan scanClientHello(std::span<const unsigned char> bytes,
                                std::size_t max_bytes = kMaxClientHelloBytes);

// The ALPN values by which mesh proxies announce mesh mTLS: peergate's own and Istio's
// (istio-peer-exchange, istio, istio-http/1.0, istio-http/1.1, istio-h2). An inbound PERMISSIVE
// port terminates TLS only when the ClientHello offers one of them.
bool isMeshAlpn(std::string_view protocol);
bool offersMeshAlpn(const ClientHelloScan& scan);

// What an outbound proxy offers when it originates mesh mTLS, in preference order: peergate's
// token, then "istio" so that an Istio sidecar's PERMISSIVE port recognises it too.
// istio-peer-exchange is not offered: Envoy would then expect its metadata-exchange bytes.
inline constexpr std::string_view kOutboundAlpn[] = {"peergate", "istio"};

// What the inbound side selects, in its preference order, among what the client offered; never
// istio-peer-exchange (it commits the client to Istio's metadata exchange, which peergate does
// not speak). A client that offers none of these gets no ALPN.
inline constexpr std::string_view kInboundAlpn[] = {"peergate-mux/1", "peergate",       "istio",
                                                    "istio-http/1.0", "istio-http/1.1", "istio-h2"};
// Selected by a peergate proxy that carries many connections as streams of this one
// (proxy/src/mux_connection.h); offered before kOutboundAlpn when multiplexing is on.
inline constexpr std::string_view kMuxAlpn = kInboundAlpn[0];

// `protocols` in the wire format of the ALPN extension and SSL_CTX_set_alpn_protos (each name
// prefixed by its one-byte length).
std::string alpnWireFormat(std::span<const std::string_view> protocols);

}  // namespace peergate::proxy
