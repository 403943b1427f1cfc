#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <system_error>

#include <openssl/ssl.h>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

namespace peergate::proxy {

using IoHandler = std::function<void(const std::error_code&, std::size_t)>;
using DoneHandler = std::function<void(const std::error_code&)>;

// One side of a spliced connection: plaintext TCP or TLS over TCP. Handlers never run inline
// (always through the executor), so a long transfer does not grow the stack. End of stream is
// reported as asio::error::eof (TLS: close_notify, or TCP FIN without one).
//
// Reading is split in two so that a connection with nothing to read holds no buffer: readNow
// takes what is there without waiting (asio::error::would_block when nothing is), and
// waitReadable reports when readNow can make progress again.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual std::size_t readNow(asio::mutable_buffer buffer, std::error_code& ec) = 0;
  virtual void waitReadable(DoneHandler handler) = 0;
  // Bytes already taken from the socket and not yet returned by readNow (TLS: decrypted or not).
  virtual bool hasBuffered() const = 0;
  // Writes what fits without waiting and returns how much that was; asio::error::would_block
  // when nothing fits now (writeSome then waits for room). Saves the relay a trip through the
  // event loop per message when the other side keeps up, which is almost always.
  virtual std::size_t writeNow(asio::const_buffer buffer, std::error_code& ec) = 0;
  virtual void writeSome(asio::const_buffer buffer, IoHandler handler) = 0;
  // The largest write that goes out in one piece; a relay reads at most this much at a time so
  // that it never leaves a small remainder to send on its own.
  virtual std::size_t writeChunk() const { return std::numeric_limits<std::size_t>::max(); }
  // Written bytes leave at the end of the event loop's turn, not during the write.
  virtual bool sendsLater() const { return false; }
  // Half-close: TCP FIN, or close_notify for TLS; reading goes on.
  virtual void shutdownWrite(DoneHandler handler) = 0;
  virtual void close() = 0;
};

class PlainStream final : public Stream {
 public:
  explicit PlainStream(asio::ip::tcp::socket socket);
  std::size_t readNow(asio::mutable_buffer buffer, std::error_code& ec) override;
  void waitReadable(DoneHandler handler) override;
  bool hasBuffered() const override { return false; }
  std::size_t writeNow(asio::const_buffer buffer, std::error_code& ec) override;
  void writeSome(asio::const_buffer buffer, IoHandler handler) override;
  void shutdownWrite(DoneHandler handler) override;
  void close() override;

 private:
  asio::ip::tcp::socket socket_;
};

// TLS driven in reactor style: OpenSSL reads and writes the non-blocking socket itself, and an
// SSL_ERROR_WANT_READ/WRITE becomes an asio readiness wait before the same call is retried. This
// keeps one SSL object usable for both directions at once (a read pending while a write runs)
// and allows a real half-close: SSL_shutdown sends close_notify once and reading continues.
class TlsStream final : public Stream {
 public:
  // Takes ownership of `ssl` (already carrying its SSL_CTX and verification data).
  TlsStream(asio::ip::tcp::socket socket, SSL* ssl);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Runs the handshake as a server (accept) or a client (connect). On failure the handler gets
  // an error; the OpenSSL error queue is left for the caller to classify.
  void handshake(bool server, DoneHandler handler);
  std::size_t readNow(asio::mutable_buffer buffer, std::error_code& ec) override;
  void waitReadable(DoneHandler handler) override;
  bool hasBuffered() const override { return SSL_has_pending(ssl_) == 1; }
  std::size_t writeNow(asio::const_buffer buffer, std::error_code& ec) override;
  void writeSome(asio::const_buffer buffer, IoHandler handler) override;
  void shutdownWrite(DoneHandler handler) override;
  void close() override;
  SSL* ssl() const { return ssl_; }
  asio::any_io_executor executor() const {
    return const_cast<asio::ip::tcp::socket&>(socket_).get_executor();
  }

 private:
  // Calls `attempt` until it stops asking to wait; `attempt` returns the SSL_get_error value
  // (SSL_ERROR_NONE when done) and finishes the operation itself when it is not a wait.
  void drive(std::function<int()> attempt, DoneHandler on_error);
  // One SSL_write_ex: returns SSL_ERROR_NONE (`written` set), a wait (SSL_ERROR_WANT_*; `ec` is
  // would_block) or another SSL error (`ec` says why).
  int tryWrite(asio::const_buffer buffer, std::size_t& written, std::error_code& ec);

  asio::ip::tcp::socket socket_;
  SSL* ssl_;
  // What the last readNow that could not finish needs from the socket (TLS 1.3 may have to
  // write, e.g. a KeyUpdate answer, before it can read on).
  asio::socket_base::wait_type read_wait_ = asio::socket_base::wait_read;
  // The last readNow could not finish with what OpenSSL holds: waiting must go to the socket.
  bool needs_socket_ = false;
};

// The error a failed TLS operation reports to handlers.
const std::error_category& tlsCategory();

}  // namespace peergate::proxy
