#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::cli {

// Runs `peergate <args...>` in-process (args exclude the program name) and returns the exit
// code. Nothing global is touched: tests pass string streams and need no subprocess.
int run(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
        std::ostream& err);

// What a run printed and returned.
struct CapturedRun {
  int exit_code = 0;
  std::string out;
  std::string err;
};

// run() with `stdin_text` as standard input and both outputs captured in strings.
CapturedRun runCaptured(const std::vector<std::string>& args, std::string_view stdin_text = {});

// The binary's entry point: argv as main received it, the process's standard streams.
int run(int argc, const char* const* argv);

}  // namespace peergate::cli
