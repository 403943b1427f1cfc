// In-process cost of one admission decision, without sockets or TLS: loads a cluster state,
// then times AdmissionHandler::handle on one AdmissionReview body. Tells the engine's share of
// the HTTPS benchmark (scripts/bench-webhook.sh) apart from the server's.
//
//   peergate_bench_handler STATE.json REVIEW.json [ROUTE=/validate] [ITERATIONS=2000]

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/decode.h"
#include "peergate/webhook/admission.h"
#include "peergate/webhook/state_store.h"

namespace {

std::string slurp(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s STATE.json REVIEW.json [ROUTE] [ITERATIONS]\n", argv[0]);
    return 64;
  }
  const std::string route = argc > 3 ? argv[3] : "/validate";
  const int iterations = argc > 4 ? std::stoi(argv[4]) : 2000;
  peergate::validation::Inputs inputs;
  const auto outcome = peergate::validation::decodeInto(slurp(argv[1]), argv[1], inputs);
  if (!outcome.ok()) {
    std::fprintf(stderr, "%s does not decode\n", argv[1]);
    return 65;
  }
  peergate::webhook::StateStore store;
  store.publish(std::make_shared<const peergate::validation::ClusterState>(std::move(inputs)));
  const peergate::webhook::AdmissionHandler handler(store, {});
  const std::string body = slurp(argv[2]);
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) {
    bytes += handler.handle(route, "application/json", body).body.size();
  }
  const std::chrono::duration<double, std::micro> spent = std::chrono::steady_clock::now() - start;
  std::printf("%d decisions, %.1f us each (%zu reply bytes in all)\n", iterations,
              spent.count() / iterations, bytes);
  return 0;
}
