#pragma once

#include <signal.h>

#include <chrono>

namespace peergate::cli {

// Blocks SIGTERM and SIGINT in this thread and in every thread started after it, so that only
// the waits below receive them: no code runs in a signal handler. Call before starting threads.
sigset_t blockShutdownSignals();

// Waits up to `timeout` for SIGTERM/SIGINT; the signal number, or 0 on timeout.
int waitForShutdownSignal(const sigset_t& signals, std::chrono::milliseconds timeout);

// Waits until SIGTERM or SIGINT arrives; the signal number.
int waitForShutdownSignal(const sigset_t& signals);

}  // namespace peergate::cli
