#include "peergate/identity/secure_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <openssl/rand.h>

#include "openssl_error.h"

namespace peergate::identity {
namespace {

namespace fs = std::filesystem;
using detail::failure;

constexpr int kTempAttempts = 8;

mode_t permissions(FileMode mode) { return mode == FileMode::Private ? 0600 : 0644; }

Error writeError(const std::string& path, const std::string& what, int error_number) {
  return failure("file.write",
                 "cannot write " + path + ": " + what + ": " + std::strerror(error_number));
}

std::string randomSuffix() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return std::to_string(::getpid());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (const unsigned char byte : bytes) {
    text += kHex[byte >> 4];
    text += kHex[byte & 0x0F];
  }
  return text;
}

bool writeAll(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t written = ::write(fd, content.data(), content.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    content.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// The mode is given to open() itself, so the file never exists with wider permissions; fchmod
// then restores bits a umask removed (0644 certificates), never adds to a private file's 0600.
Result<std::string> createTemp(const fs::path& target, FileMode mode, int& fd) {
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (int attempt = 0; attempt < kTempAttempts; ++attempt) {
    const std::string temp =
        (dir / ("." + target.filename().string() + ".tmp-" + randomSuffix())).string();
    fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                permissions(mode));
    if (fd >= 0) {
      if (::fchmod(fd, permissions(mode)) == 0) return temp;
      const int saved = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return writeError(target.string(), "chmod", saved);
    }
    if (errno != EEXIST) return writeError(target.string(), "create a temporary file", errno);
  }
  return writeError(target.string(), "create a temporary file", EEXIST);
}

Result<Done> fillAndClose(int fd, const std::string& path, std::string_view content) {
  const bool written = writeAll(fd, content) && ::fsync(fd) == 0;
  const int saved = errno;
  const bool closed = ::close(fd) == 0;
  if (!written) return writeError(path, "write", saved);
  if (!closed) return writeError(path, "close", errno);
  return Done{};
}

// link() fails with EEXIST instead of replacing: no window between "does it exist" and "write".
Result<Done> moveIntoPlace(const std::string& temp, const std::string& path, Overwrite overwrite) {
  if (overwrite == Overwrite::Replace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) return writeError(path, "rename", errno);
    return Done{};
  }
  if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return failure("file.exists", path + " already exists");
    return writeError(path, "link", errno);
  }
  ::unlink(temp.c_str());
  return Done{};
}

}  // namespace

Result<Done> writeFileAtomically(const std::string& path, std::string_view content, FileMode mode,
                                 Overwrite overwrite) {
  int fd = -1;
  Result<std::string> temp = createTemp(fs::path(path), mode, fd);
  if (!temp) return temp.error();
  Result<Done> filled = fillAndClose(fd, path, content);
  if (filled) filled = moveIntoPlace(temp.value(), path, overwrite);
  if (!filled) ::unlink(temp.value().c_str());
  return filled;
}

Result<std::string> readWholeFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return failure("file.read", "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return failure("file.read", "cannot read " + path + ": I/O error");
  return std::move(text).str();
}

}  // namespace peergate::identity
