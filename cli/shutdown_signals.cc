#include "peergate/cli/shutdown_signals.h"

#include <pthread.h>

#include <ctime>

namespace peergate::cli {

sigset_t blockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int waitForShutdownSignal(const sigset_t& signals, std::chrono::milliseconds timeout) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const timespec wait{static_cast<time_t>(seconds.count()),
                      static_cast<long>((timeout - seconds).count() * 1'000'000)};
  const int signal_number = sigtimedwait(&signals, nullptr, &wait);
  return signal_number > 0 ? signal_number : 0;
}

int waitForShutdownSignal(const sigset_t& signals) {
  for (;;) {
    const int signal_number = sigwaitinfo(&signals, nullptr);
    if (signal_number > 0) return signal_number;  // EINTR: wait again
  }
}

}  // namespace peergate::cli
