// Drives the ClientHello scan with arbitrary bytes, as a PERMISSIVE port peeks them from anyone.
// Whatever the input, the scan must return a verdict consistent with the bytes, never crash,
// hang or read past them.
#include <cstddef>
#include <cstdint>
#include <span>

#include "peergate/proxy/client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using peergate::proxy::ClientHelloScan;
  const std::span<const unsigned char> bytes(data, size);
  const ClientHelloScan scan = peergate::proxy::scanClientHello(bytes);
  if (scan.status == ClientHelloScan::Status::NeedMore &&
      (scan.needed <= size || scan.needed > peergate::proxy::kMaxClientHelloBytes)) {
    __builtin_trap();
  }
  if (scan.status != ClientHelloScan::Status::Parsed && !scan.alpn.empty()) __builtin_trap();
  // Every prefix is a state the proxy may peek on the way.
  for (std::size_t cut = size > 64 ? size - 64 : 0; cut < size; ++cut) {
    static_cast<void>(peergate::proxy::scanClientHello(bytes.first(cut)));
  }
  static_cast<void>(peergate::proxy::offersMeshAlpn(scan));
  return 0;
}
