// Drives the decoder with arbitrary bytes: YAML or JSON, multi-document, Lists, observations.
// Whatever the input, decoding must return (errors are data), never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "peergate/validation/decode.h"
#include "peergate/validation/observations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  peergate::validation::DecodeLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_documents = 10'000;
  peergate::validation::Inputs inputs;
  const auto outcome = peergate::validation::decodeInto(text, "fuzz.yaml", inputs, limits);
  for (const auto& error : outcome.errors) {
    if (error.code.empty() || error.message.empty()) __builtin_trap();
    static_cast<void>(error.describe());
  }
  static_cast<void>(peergate::validation::decodeObservations(text, "fuzz.json"));
  return 0;
}
