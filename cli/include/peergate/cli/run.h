#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace peergate::cli {

// Runs `peergate <args...>` in-process (args exclude the program name) and returns the exit
// code. Nothing global is touched: tests pass string streams and need no subprocess.
int run(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
        std::ostream& err);

// The binary's entry point: argv as main received it, the process's standard streams.
int run(int argc, const char* const* argv);

}  // namespace peergate::cli
