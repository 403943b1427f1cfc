#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include "peergate/proxy/client_hello.h"
#include "peergate/proxy/tls_contexts.h"
#include "stream.h"

namespace peergate::proxy {

// Many proxied connections between the same two proxies share one mTLS connection, so an idle
// connection costs its two proxies a few hundred bytes of stream state instead of an SSL object,
// its buffers and a peer certificate each (10,000 idle connections must fit in 100 MiB).
//
// Negotiated by ALPN (kMuxAlpn), so a peer that does not offer or select it gets the classic
// one-connection-per-connection mTLS. Framing, big-endian:
//   type u8 | stream id u32 | length u32 | payload
// Open (client → server, empty), Data (≤ kMuxMaxPayload bytes), Fin (half-close of the sender's
// direction, empty), Reset (abort both directions, empty), Window (u32: bytes the receiver
// consumed, returned to the sender's credit). Every stream of a connection goes to the port the
// connection itself was opened to, so the server's per-port policy check still sees the
// connection's original destination.
inline constexpr std::size_t kMuxMaxPayload = 16384;
inline constexpr std::size_t kMuxHeaderBytes = 9;
// Data frames a sender makes: header and payload fill one 16 KiB TLS record exactly, so a frame
// never spills a few bytes into a record of their own.
inline constexpr std::size_t kMuxDataChunk = 16384 - kMuxHeaderBytes;
// The most a stream takes in one write: a relay's read of the app becomes up to four such
// frames queued together, so in a bulk transfer the app's socket is read (and, on the other
// proxy, written) once per four records instead of once per record.
inline constexpr std::size_t kMuxWriteChunk = 4 * kMuxDataChunk;
// A stream may have this much sent and not yet consumed by the other side's reader, and gets
// credit back in steps of kMuxCreditStep consumed.
inline constexpr std::uint32_t kMuxWindow = 1024 * 1024;
inline constexpr std::uint32_t kMuxCreditStep = kMuxWindow / 8;

class MuxConnection;

// One stream of a MuxConnection: what a Session splices in place of a TLS connection. Reading
// takes what the connection delivered; writing is limited by the peer's credit for this stream
// and by the connection's send backlog (backpressure both ways, no unbounded buffer).
class MuxStream final : public Stream {
 public:
  MuxStream(std::shared_ptr<MuxConnection> connection, std::uint32_t id);
  ~MuxStream() override;
  MuxStream(const MuxStream&) = delete;
  MuxStream& operator=(const MuxStream&) = delete;

  std::size_t readNow(asio::mutable_buffer buffer, std::error_code& ec) override;
  void waitReadable(DoneHandler handler) override;
  bool hasBuffered() const override { return received_.size() > read_offset_; }
  std::size_t writeNow(asio::const_buffer buffer, std::error_code& ec) override;
  void writeSome(asio::const_buffer buffer, IoHandler handler) override;
  std::size_t writeChunk() const override { return kMuxWriteChunk; }
  bool sendsLater() const override { return true; }
  void shutdownWrite(DoneHandler handler) override;
  void close() override;

  std::uint32_t id() const { return id_; }
  const MuxConnection& connection() const { return *connection_; }

 private:
  friend class MuxConnection;
  // From the connection's reader; false when the peer sent beyond its credit.
  bool deliver(const char* data, std::size_t size);
  void finishedByPeer();
  void failed(const std::error_code& ec);
  void addCredit(std::uint32_t bytes);
  // A parked write goes on once credit or connection room is back.
  void resumeWrite();
  // Queues as much of `buffer` as the credit allows, in record-filling frames; returns that much.
  std::size_t sendData(asio::const_buffer buffer);
  std::error_code writeError() const;
  bool readable() const;
  void wakeReader(const std::error_code& ec);
  void release();

  std::shared_ptr<MuxConnection> connection_;
  const std::uint32_t id_;
  std::vector<char> received_;
  std::size_t read_offset_ = 0;
  std::uint32_t receive_left_ = kMuxWindow;  // what the peer may still send
  std::uint32_t consumed_ = 0;               // read and not yet returned as credit
  std::uint32_t credit_ = kMuxWindow;        // what we may still send
  DoneHandler reader_;
  asio::const_buffer parked_buffer_;
  IoHandler parked_writer_;
  bool fin_received_ = false;
  bool fin_sent_ = false;
  bool released_ = false;
  std::error_code failure_;
};

class MuxConnection : public std::enable_shared_from_this<MuxConnection> {
 public:
  enum class Role { Client, Server };
  using OnOpen = std::function<void(std::unique_ptr<MuxStream>)>;

  // `tls` has finished its handshake and negotiated kMuxAlpn.
  MuxConnection(std::unique_ptr<TlsStream> tls, Role role, std::string peer_id);
  ~MuxConnection();
  MuxConnection(const MuxConnection&) = delete;
  MuxConnection& operator=(const MuxConnection&) = delete;

  // Starts reading. A server hands each stream the peer opens to `on_open`.
  void start(OnOpen on_open = nullptr);
  // Client: a new stream, announced to the peer at once.
  std::unique_ptr<MuxStream> open();
  // Client: whether open() may be called (alive, below the stream cap, ids left).
  bool acceptsStreams() const;
  // No new streams; closes once the last stream ends.
  void retire();
  void close(const std::error_code& why);

  asio::any_io_executor executor() const { return tls_->executor(); }
  bool failed() const { return failed_; }

 private:
  friend class MuxStream;
  enum class FrameType : std::uint8_t { Open = 1, Data = 2, Fin = 3, Reset = 4, Window = 5 };

  void send(FrameType type, std::uint32_t id, const void* payload = nullptr, std::size_t size = 0);
  void sendWindow(std::uint32_t id, std::uint32_t bytes);
  bool congested() const;
  void waitForRoom(std::uint32_t id);
  void scheduleFlush();
  void flush();
  void writeInflight(std::size_t offset);
  void wrote();
  void resumeBlocked();
  void read();
  void waitThenRead();
  void peerFinished();
  void consume(const char* data, std::size_t size);
  static bool validFrameSize(FrameType type, std::uint32_t size);
  void startFrame();
  void takePayload(const char* data, std::size_t size);
  void endFrame();
  void protocolError(const std::string& what);
  void onOpen(std::uint32_t id);
  void forget(std::uint32_t id);
  void forEachStream(const std::function<void(MuxStream&)>& visit);
  void closeIfDone();
  void armIdle();

  std::unique_ptr<TlsStream> tls_;
  const Role role_;
  const std::string peer_id_;
  OnOpen on_open_;
  std::unordered_map<std::uint32_t, MuxStream*> streams_;
  std::uint32_t next_id_ = 0;  // client: the last id opened; server: the last id the peer opened
  std::string outbox_;         // frames not yet handed to TLS
  std::string inflight_;       // frames being written
  bool writing_ = false;
  bool flush_scheduled_ = false;
  std::vector<std::uint32_t> blocked_;   // streams waiting for the outbox to drain
  std::unique_ptr<char[]> read_buffer_;  // while there is something to read
  // The frame being decoded: its header as far as it came, then its payload.
  char header_[9] = {};
  std::size_t header_have_ = 0;
  FrameType frame_type_ = FrameType::Data;
  std::uint32_t frame_id_ = 0;
  std::uint32_t payload_left_ = 0;
  char control_[4] = {};  // a Window frame's payload
  std::size_t control_have_ = 0;
  asio::steady_timer idle_;
  bool retired_ = false;
  bool closing_ = false;  // the close_notify is on its way
  bool failed_ = false;
};

// The outbound side's live mux connections, by destination and expected identity. Touched only
// on the event loop.
class MuxPool {
 public:
  using Join = std::function<void(std::shared_ptr<MuxConnection>)>;

  // A connection for `key` that takes new streams and was set up with `tls`, or nullptr.
  std::shared_ptr<MuxConnection> find(const std::string& key, const TlsContexts* tls);
  // While one session's handshake for `key` is under way the others wait for its connection
  // instead of each running a handshake of their own (a burst of connections at start-up).
  // False when none is under way; otherwise `join` gets the connection, or nullptr when that
  // handshake failed or the peer does not multiplex.
  bool joinPending(const std::string& key, const TlsContexts* tls, Join join);
  void startPending(const std::string& key, const TlsContexts* tls);
  // The handshake for `key` is over; `connection` (nullptr on failure) joins the pool.
  void settle(const std::string& key, const std::shared_ptr<const TlsContexts>& tls,
              const std::shared_ptr<MuxConnection>& connection);
  // Stops every pooled connection from taking new streams (drain).
  void retireAll();

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const TlsContexts> tls;
    std::weak_ptr<MuxConnection> connection;
  };
  struct Pending {
    std::string key;
    const TlsContexts* tls;
    std::vector<Join> waiting;
  };
  std::vector<Entry> entries_;
  std::vector<Pending> pending_;
};

// Whether the handshake on `ssl` selected kMuxAlpn.
bool negotiatedMux(SSL* ssl);

}  // namespace peergate::proxy
