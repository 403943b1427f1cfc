#include "peergate/cli/input_files.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <system_error>

#include "peergate/cli/exit_codes.h"
#include "peergate/validation/decode.h"

namespace peergate::cli {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kStdin = "-";

validation::Error ioError(const std::string& file, const std::string& message) {
  validation::Error error;
  error.code = "io.read";
  error.file = file;
  error.document = -1;  // not about a document: describe() leaves it out
  error.message = message;
  return error;
}

std::string lowerExtension(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

bool isManifestFile(const fs::directory_entry& entry) {
  std::error_code ignored;
  if (!entry.is_regular_file(ignored)) return false;
  const std::string extension = lowerExtension(entry.path());
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

void decodeText(const std::string& text, const std::string& file, LoadedInputs& loaded) {
  validation::DecodeOutcome outcome = validation::decodeInto(text, file, loaded.inputs);
  loaded.objects += outcome.objects;
  loaded.files += 1;
  for (validation::Error& error : outcome.errors) loaded.errors.push_back(std::move(error));
}

void loadPath(const fs::path& path, LoadedInputs& loaded) {
  if (std::optional<std::string> text = readWholeFile(path, loaded.errors)) {
    decodeText(*text, path.generic_string(), loaded);
  }
}

void loadDirectory(const fs::path& dir, LoadedInputs& loaded) {
  const std::vector<fs::path> files = manifestFilesUnder(dir, loaded.errors);
  if (files.empty()) {
    loaded.warnings.push_back("no *.yaml, *.yml or *.json file under " + dir.generic_string());
  }
  for (const fs::path& file : files) loadPath(file, loaded);
}

void loadStdin(std::istream& in, bool& stdin_read, LoadedInputs& loaded) {
  if (stdin_read) {
    loaded.errors.push_back(ioError("-", "standard input is given more than once"));
    return;
  }
  stdin_read = true;
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    loaded.errors.push_back(ioError("-", "cannot read standard input"));
    return;
  }
  decodeText(text, std::string(kStdin), loaded);
}

void loadSource(const std::string& source, std::istream& in, bool& stdin_read,
                LoadedInputs& loaded) {
  if (source == kStdin) return loadStdin(in, stdin_read, loaded);
  std::error_code error;
  const fs::path path(source);
  if (fs::is_directory(path, error)) return loadDirectory(path, loaded);
  loadPath(path, loaded);
}

}  // namespace

std::optional<std::string> readWholeFile(const fs::path& path,
                                         std::vector<validation::Error>& errors) {
  std::error_code status_error;
  if (!fs::exists(path, status_error)) {
    errors.push_back(ioError(path.generic_string(), "cannot read: no such file or directory"));
    return std::nullopt;
  }
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const std::string reason =
        errno != 0 ? std::generic_category().message(errno) : std::string("cannot open");
    errors.push_back(ioError(path.generic_string(), "cannot read: " + reason));
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    errors.push_back(ioError(path.generic_string(), "cannot read: I/O error"));
    return std::nullopt;
  }
  return std::move(text).str();
}

std::vector<fs::path> manifestFilesUnder(const fs::path& dir,
                                         std::vector<validation::Error>& errors) {
  std::vector<fs::path> files;
  std::error_code error;
  fs::recursive_directory_iterator it(dir, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (isManifestFile(*it)) files.push_back(it->path());
  }
  if (error) {
    errors.push_back(ioError(dir.generic_string(), "cannot read directory: " + error.message()));
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.generic_string() < b.generic_string();
  });
  return files;
}

LoadedInputs loadInputs(const std::vector<std::string>& sources, std::istream& in) {
  LoadedInputs loaded;
  bool stdin_read = false;
  for (const std::string& source : sources) loadSource(source, in, stdin_read, loaded);
  return loaded;
}

validation::Result<validation::Observations> loadObservations(const std::string& path) {
  std::vector<validation::Error> errors;
  std::optional<std::string> text = readWholeFile(path, errors);
  if (!text) return errors.front();
  return validation::decodeObservations(*text, path);
}

int reportInputErrors(const std::vector<validation::Error>& errors, std::ostream& err) {
  for (const validation::Error& error : errors) err << error.describe() << "\n";
  err << "Error: " << errors.size() << (errors.size() == 1 ? " input error" : " input errors")
      << "; nothing was analyzed.\n";
  return kExitBadInput;
}

void reportInputWarnings(const std::vector<std::string>& warnings, std::ostream& err) {
  for (const std::string& warning : warnings) err << "Warning: " << warning << "\n";
}

}  // namespace peergate::cli
