#pragma once

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "peergate/validation/model.h"
#include "peergate/validation/observations.h"
#include "peergate/validation/result.h"

namespace peergate::cli {

// Everything read from the -f arguments, decoded into one Inputs.
struct LoadedInputs {
  validation::Inputs inputs;
  int objects = 0;                        // objects of known kinds
  int files = 0;                          // files (and stdin) read
  std::vector<validation::Error> errors;  // unreadable paths and every decode error
  std::vector<std::string> warnings;      // e.g. a directory without manifests
  bool ok() const { return errors.empty(); }
};

// Reads each source in order: a FILE, a DIR (every *.yaml, *.yml, *.json below it, recursively,
// in sorted path order) or `-` (standard input, read once). Read failures and decode errors are
// collected, not thrown: the caller reports them all and analyzes nothing.
LoadedInputs loadInputs(const std::vector<std::string>& sources, std::istream& in);

// The manifest files below `dir` in sorted order; unreadable directories become errors.
std::vector<std::filesystem::path> manifestFilesUnder(const std::filesystem::path& dir,
                                                      std::vector<validation::Error>& errors);

// Reads a whole file; nullopt (and an "io.read" error naming the path) when it cannot.
std::optional<std::string> readWholeFile(const std::filesystem::path& path,
                                         std::vector<validation::Error>& errors);

// Reads and decodes an observations file (docs/observations.md).
validation::Result<validation::Observations> loadObservations(const std::string& path);

// Prints every error's describe() and a closing line to `err`; returns kExitBadInput.
int reportInputErrors(const std::vector<validation::Error>& errors, std::ostream& err);

// Prints each warning as "Warning: <text>" to `err`.
void reportInputWarnings(const std::vector<std::string>& warnings, std::ostream& err);

}  // namespace peergate::cli
