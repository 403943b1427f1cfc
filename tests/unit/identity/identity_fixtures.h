#pragma once

// Test helpers shared by the identity and `peergate certs` tests: a private temporary
// directory, running the real openssl CLI, reading PEM files.

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <catch2/catch.hpp>

namespace peergate::identity::testing {

namespace fs = std::filesystem;

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "peergate-identity") {
    std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct CommandOutput {
  int status = -1;     // the exit status, -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell with OPENSSL_CONF=/dev/null, so no site configuration shapes
// what the real openssl CLI reports.
inline CommandOutput shell(const std::string& command) {
  CommandOutput result;
  const std::string full = "OPENSSL_CONF=/dev/null " + command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t size = 0;
  while ((size = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    result.output.append(buffer, size);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using TestCert = std::unique_ptr<X509, X509Free>;

inline TestCert readCertFile(const std::string& path) {
  const std::string pem = readFile(path);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  TestCert cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  REQUIRE(cert != nullptr);
  return cert;
}

// A self-signed EC certificate made by the openssl CLI with the given -addext arguments, so the
// readers are tested on certificates our own issuer did not write.
inline TestCert opensslSelfSigned(const TempDir& dir, const std::string& name,
                                  const std::string& addext) {
  const CommandOutput made = shell(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
      "/CN=test -keyout '" +
      dir / (name + ".key") + "' -out '" + dir / (name + ".pem") + "' " + addext);
  INFO(made.output);
  REQUIRE(made.status == 0);
  return readCertFile(dir / (name + ".pem"));
}

}  // namespace peergate::identity::testing
