#include "openssl_error.h"

#include <openssl/err.h>

namespace peergate::identity::detail {

std::string opensslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return buffer;
}

Error failure(std::string_view code, std::string message) {
  Error error;
  error.code = code;
  error.message = std::move(message);
  return error;
}

Error opensslFailure(std::string_view code, std::string_view what) {
  return failure(code, std::string(what) + ": " + opensslError());
}

}  // namespace peergate::identity::detail
