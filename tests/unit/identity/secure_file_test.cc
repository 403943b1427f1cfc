// Writing keys and certificates: exact modes whatever the umask, no-clobber by default, and
// nothing left behind when a write is refused.

#include "peergate/identity/secure_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "identity_fixtures.h"

namespace peergate::identity {
namespace {

namespace fs = std::filesystem;
using testing::readFile;
using testing::TempDir;

mode_t modeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), {}));
}

// Restores the process umask when the test ends, pass or fail.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

TEST_CASE("writes private files 0600 and public files 0644 whatever the umask",
          "[identity][files]") {
  const mode_t mask = GENERATE(mode_t{0}, mode_t{022}, mode_t{077});
  CAPTURE(mask);
  ScopedUmask scoped(mask);
  TempDir dir;
  REQUIRE(
      writeFileAtomically(dir / "key.pem", "secret\n", FileMode::Private, Overwrite::Refuse).ok());
  REQUIRE(
      writeFileAtomically(dir / "cert.pem", "public\n", FileMode::Public, Overwrite::Refuse).ok());
  CHECK(modeOf(dir / "key.pem") == 0600);
  CHECK(modeOf(dir / "cert.pem") == 0644);
  CHECK(readFile(dir / "key.pem") == "secret\n");
  CHECK(entries(dir.path()) == 2);  // no temporary file left behind
}

TEST_CASE("refuses to replace an existing file unless asked", "[identity][files]") {
  TempDir dir;
  std::ofstream(dir / "key.pem") << "old\n";
  const Result<Done> refused =
      writeFileAtomically(dir / "key.pem", "new\n", FileMode::Private, Overwrite::Refuse);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "file.exists");
  CHECK(refused.error().message == dir / "key.pem" + " already exists");
  CHECK(readFile(dir / "key.pem") == "old\n");
  CHECK(entries(dir.path()) == 1);

  REQUIRE(
      writeFileAtomically(dir / "key.pem", "new\n", FileMode::Private, Overwrite::Replace).ok());
  CHECK(readFile(dir / "key.pem") == "new\n");
  CHECK(modeOf(dir / "key.pem") == 0600);  // the old file's 0644 is not inherited
  CHECK(entries(dir.path()) == 1);
}

TEST_CASE("replaces a symlink rather than writing through it", "[identity][files]") {
  TempDir dir;
  std::ofstream(dir / "elsewhere") << "untouched\n";
  fs::create_symlink(dir / "elsewhere", dir / "key.pem");
  REQUIRE_FALSE(
      writeFileAtomically(dir / "key.pem", "new\n", FileMode::Private, Overwrite::Refuse).ok());
  REQUIRE(
      writeFileAtomically(dir / "key.pem", "new\n", FileMode::Private, Overwrite::Replace).ok());
  CHECK_FALSE(fs::is_symlink(dir / "key.pem"));
  CHECK(readFile(dir / "elsewhere") == "untouched\n");
}

TEST_CASE("reports a directory it cannot write to", "[identity][files]") {
  TempDir dir;
  const std::string missing = dir / "no-such-dir/key.pem";
  const Result<Done> written =
      writeFileAtomically(missing, "x", FileMode::Private, Overwrite::Refuse);
  REQUIRE_FALSE(written.ok());
  CHECK(written.error().code == "file.write");
  CHECK_THAT(written.error().message,
             Catch::StartsWith("cannot write " + missing + ": create a temporary file: "));
}

TEST_CASE("reads a whole file or names the one it cannot read", "[identity][files]") {
  TempDir dir;
  std::ofstream(dir / "a") << "line 1\nline 2\n";
  CHECK(readWholeFile(dir / "a").value() == "line 1\nline 2\n");
  const Result<std::string> missing = readWholeFile(dir / "b");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "file.read");
  CHECK_THAT(missing.error().message, Catch::StartsWith("cannot read " + dir / "b"));
}

}  // namespace
}  // namespace peergate::identity
