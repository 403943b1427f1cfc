#include "stream.h"

#include <openssl/err.h>

#include <asio/post.hpp>

namespace peergate::proxy {
namespace {

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int code) const override {
    char text[256];
    ERR_error_string_n(static_cast<unsigned long>(code), text, sizeof text);
    return text;
  }
};

// The library's reason for the failure (so the caller can classify it after the error queue is
// gone), or SSL_R_... 0 when OpenSSL queued nothing (e.g. the peer closed the TCP connection).
std::error_code tlsError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  return {code == 0 ? 1 : static_cast<int>(code), tlsCategory()};
}

template <typename Handler, typename... Args>
void postCall(asio::ip::tcp::socket& socket, const std::shared_ptr<Handler>& handler,
              Args... args) {
  asio::post(socket.get_executor(), [handler, args...] { (*handler)(args...); });
}

bool isWait(int ssl_error) {
  return ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE;
}

}  // namespace

const std::error_category& tlsCategory() {
  static const TlsCategory category;
  return category;
}

// Non-blocking, so readNow returns would_block instead of waiting.
PlainStream::PlainStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
}

std::size_t PlainStream::readNow(asio::mutable_buffer buffer, std::error_code& ec) {
  return socket_.read_some(buffer, ec);
}

void PlainStream::waitReadable(DoneHandler handler) {
  socket_.async_wait(asio::socket_base::wait_read, std::move(handler));
}

std::size_t PlainStream::writeNow(asio::const_buffer buffer, std::error_code& ec) {
  return socket_.write_some(buffer, ec);
}

void PlainStream::writeSome(asio::const_buffer buffer, IoHandler handler) {
  socket_.async_write_some(buffer, std::move(handler));
}

void PlainStream::shutdownWrite(DoneHandler handler) {
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  asio::post(socket_.get_executor(), [handler = std::move(handler), ec] { handler(ec); });
}

void PlainStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

TlsStream::TlsStream(asio::ip::tcp::socket socket, SSL* ssl)
    : socket_(std::move(socket)), ssl_(ssl) {
  // OpenSSL does the I/O on the descriptor, so it must never block the event loop.
  socket_.non_blocking(true);
  SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::drive(std::function<int()> attempt, DoneHandler on_error) {
  const int result = attempt();
  if (!isWait(result)) return;
  const auto wait =
      result == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write;
  socket_.async_wait(wait, [this, attempt = std::move(attempt),
                            on_error = std::move(on_error)](const std::error_code& ec) mutable {
    if (ec) {
      on_error(ec);
      return;
    }
    drive(std::move(attempt), std::move(on_error));
  });
}

void TlsStream::handshake(bool server, DoneHandler handler) {
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
  auto done = std::make_shared<DoneHandler>(std::move(handler));
  drive(
      [this, done] {
        ERR_clear_error();
        const int result = SSL_do_handshake(ssl_);
        if (result == 1) {
          postCall(socket_, done, std::error_code());
          return SSL_ERROR_NONE;
        }
        const int error = SSL_get_error(ssl_, result);
        if (!isWait(error)) postCall(socket_, done, tlsError());
        return error;
      },
      [done](const std::error_code& ec) { (*done)(ec); });
}

std::size_t TlsStream::readNow(asio::mutable_buffer buffer, std::error_code& ec) {
  ERR_clear_error();
  std::size_t got = 0;
  if (SSL_read_ex(ssl_, buffer.data(), buffer.size(), &got) == 1) {
    needs_socket_ = false;
    ec.clear();
    return got;
  }
  const int error = SSL_get_error(ssl_, 0);
  needs_socket_ = isWait(error);
  if (error == SSL_ERROR_ZERO_RETURN) {
    ec = asio::error::eof;
  } else if (isWait(error)) {
    read_wait_ = error == SSL_ERROR_WANT_WRITE ? asio::socket_base::wait_write
                                               : asio::socket_base::wait_read;
    ec = asio::error::would_block;
  } else {
    ec = tlsError();
  }
  return 0;
}

// With read-ahead OpenSSL may hold bytes the socket no longer shows: decrypted ones (a record
// larger than the last buffer) or whole records not yet decrypted. Either way readNow can make
// progress at once, unless its last call asked for the socket (only part of a record is held).
void TlsStream::waitReadable(DoneHandler handler) {
  if (!needs_socket_ && SSL_has_pending(ssl_) == 1) {
    asio::post(socket_.get_executor(), [handler = std::move(handler)] { handler({}); });
    return;
  }
  // A wait may last as long as the connection stays idle; OpenSSL keeps its read buffer after
  // the read that found the socket empty, so it is handed back here (it refuses while it holds
  // bytes).
  SSL_free_buffers(ssl_);
  socket_.async_wait(read_wait_, std::move(handler));
}

// With SSL_MODE_ENABLE_PARTIAL_WRITE a write that fills the socket returns the records that went
// out. After a wait OpenSSL may hold part of a record: the next write must offer the same bytes
// again, which writeSome's retries do and the relay does since it keeps its offset.
int TlsStream::tryWrite(asio::const_buffer buffer, std::size_t& written, std::error_code& ec) {
  ERR_clear_error();
  written = 0;
  if (SSL_write_ex(ssl_, buffer.data(), buffer.size(), &written) == 1) {
    ec.clear();
    return SSL_ERROR_NONE;
  }
  const int error = SSL_get_error(ssl_, 0);
  ec = isWait(error) ? std::error_code(asio::error::would_block) : tlsError();
  return error;
}

std::size_t TlsStream::writeNow(asio::const_buffer buffer, std::error_code& ec) {
  std::size_t written = 0;
  tryWrite(buffer, written, ec);
  return written;
}

void TlsStream::writeSome(asio::const_buffer buffer, IoHandler handler) {
  auto done = std::make_shared<IoHandler>(std::move(handler));
  drive(
      [this, buffer, done] {
        std::size_t written = 0;
        std::error_code ec;
        const int error = tryWrite(buffer, written, ec);
        if (!isWait(error)) postCall(socket_, done, ec, written);
        return error;
      },
      [done](const std::error_code& ec) { (*done)(ec, 0); });
}

// One SSL_shutdown call sends close_notify (returns 0 until the peer's arrives); it is never
// called a second time, which would wait for the peer's close_notify and stop our reading.
void TlsStream::shutdownWrite(DoneHandler handler) {
  auto done = std::make_shared<DoneHandler>(std::move(handler));
  drive(
      [this, done] {
        ERR_clear_error();
        const int result = SSL_shutdown(ssl_);
        if (result >= 0) {
          postCall(socket_, done, std::error_code());
          return SSL_ERROR_NONE;
        }
        const int error = SSL_get_error(ssl_, result);
        if (error == SSL_ERROR_WANT_WRITE) return error;
        postCall(socket_, done, tlsError());
        return SSL_ERROR_NONE;
      },
      [done](const std::error_code& ec) { (*done)(ec); });
}

void TlsStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

}  // namespace peergate::proxy
