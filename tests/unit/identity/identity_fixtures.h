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
#include <optional>
#include <string>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
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

// X509_verify_cert of `leaf` against the single trusted root `ca` for `purpose`
// (X509_PURPOSE_SSL_CLIENT / _SSL_SERVER) at `at`, in X509_STRICT mode (RFC 5280 checks such as
// "an empty subject needs a critical SAN"). Returns X509_V_OK or the verification error.
inline int verifyChain(X509* ca, X509* leaf, int purpose, time_t at) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* context = X509_STORE_CTX_new();
  REQUIRE(store != nullptr);
  REQUIRE(context != nullptr);
  REQUIRE(X509_STORE_add_cert(store, ca) == 1);
  REQUIRE(X509_STORE_CTX_init(context, store, leaf, nullptr) == 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(context);
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_time(param, at);
  REQUIRE(X509_STORE_CTX_set_purpose(context, purpose) == 1);
  const int verified = X509_verify_cert(context);
  const int error = X509_STORE_CTX_get_error(context);
  X509_STORE_CTX_free(context);
  X509_STORE_free(store);
  if (verified == 1) REQUIRE(error == X509_V_OK);
  return verified == 1 ? X509_V_OK : (error == X509_V_OK ? X509_V_ERR_UNSPECIFIED : error);
}

inline std::string verifyErrorText(int error) { return X509_verify_cert_error_string(error); }

// `openssl verify -x509_strict -purpose PURPOSE -CAfile CA CERT` on files, exit status 0 when
// it prints "CERT: OK". `at` (seconds since the epoch) replaces the current time.
inline CommandOutput opensslVerify(const std::string& ca_file, const std::string& cert_file,
                                   const std::string& purpose, std::optional<time_t> at = {}) {
  const std::string attime = at ? " -attime " + std::to_string(*at) : "";
  return shell("openssl verify -x509_strict" + attime + " -purpose " + purpose + " -CAfile '" +
               ca_file + "' '" + cert_file + "'");
}

}  // namespace peergate::identity::testing
