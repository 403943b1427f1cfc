#include "mux_connection.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/post.hpp>

namespace peergate::proxy {
namespace {

constexpr std::size_t kReadBytes = 16384;
// Frames queued for TLS beyond this park further writes until they are written.
constexpr std::size_t kHighWater = 256 * 1024;
// Records read (one per SSL_read) before the loop lets other connections run: what one
// read-ahead of the socket holds, so the streams get it in one piece and relay it in one write.
constexpr int kReadsPerTurn = 4;
// With no stream left, a client closes its connection after this; the server waits twice as
// long, so it never closes under a client that is just opening a stream.
constexpr std::chrono::seconds kClientIdle{30};
constexpr std::size_t kMaxStreams = 16384;

void putU32(char* out, std::uint32_t value) {
  out[0] = static_cast<char>(value >> 24);
  out[1] = static_cast<char>(value >> 16);
  out[2] = static_cast<char>(value >> 8);
  out[3] = static_cast<char>(value);
}

std::uint32_t getU32(const char* in) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
         (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

template <typename Handler, typename... Args>
void postCall(const asio::any_io_executor& executor, Handler handler, Args... args) {
  asio::post(executor, [handler = std::move(handler), args...]() mutable { handler(args...); });
}

}  // namespace

bool negotiatedMux(SSL* ssl) {
  const unsigned char* selected = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl, &selected, &size);
  return selected != nullptr &&
         std::string_view(reinterpret_cast<const char*>(selected), size) == kMuxAlpn;
}

// --- MuxStream ---------------------------------------------------------------------------------

MuxStream::MuxStream(std::shared_ptr<MuxConnection> connection, std::uint32_t id)
    : connection_(std::move(connection)), id_(id) {
  connection_->streams_[id_] = this;
}

MuxStream::~MuxStream() {
  reader_ = nullptr;
  parked_writer_ = nullptr;
  release();
}

bool MuxStream::readable() const { return hasBuffered() || fin_received_ || failure_; }

std::size_t MuxStream::readNow(asio::mutable_buffer buffer, std::error_code& ec) {
  const std::size_t available = received_.size() - read_offset_;
  if (available == 0) {
    if (failure_) {
      ec = failure_;
    } else if (fin_received_) {
      ec = asio::error::eof;
    } else {
      ec = asio::error::would_block;
    }
    return 0;
  }
  const std::size_t taken = std::min(available, buffer.size());
  std::memcpy(buffer.data(), received_.data() + read_offset_, taken);
  read_offset_ += taken;
  if (read_offset_ == received_.size()) {
    received_.clear();
    read_offset_ = 0;
  }
  consumed_ += static_cast<std::uint32_t>(taken);
  // Credit goes back in steps, not per read: fewer frames, and the sender still has most of
  // its window while the reader keeps up.
  if (consumed_ >= kMuxCreditStep && !failure_ && !released_) {
    connection_->sendWindow(id_, consumed_);
    receive_left_ += consumed_;
    consumed_ = 0;
  }
  ec.clear();
  return taken;
}

// A stream that waits holds no receive buffer (an idle connection costs its state only).
void MuxStream::waitReadable(DoneHandler handler) {
  if (readable()) {
    postCall(connection_->tls_->executor(), std::move(handler), std::error_code());
    return;
  }
  std::vector<char>().swap(received_);
  read_offset_ = 0;
  reader_ = std::move(handler);
}

void MuxStream::wakeReader(const std::error_code& ec) {
  if (!reader_) return;
  postCall(connection_->tls_->executor(), std::move(reader_), ec);
  reader_ = nullptr;
}

std::error_code MuxStream::writeError() const {
  if (failure_) return failure_;
  if (fin_sent_ || released_) return asio::error::broken_pipe;
  return {};
}

std::size_t MuxStream::writeNow(asio::const_buffer buffer, std::error_code& ec) {
  ec = writeError();
  if (ec) return 0;
  if (parked_writer_ || credit_ == 0 || connection_->congested()) {
    ec = asio::error::would_block;
    return 0;
  }
  return sendData(buffer);
}

void MuxStream::writeSome(asio::const_buffer buffer, IoHandler handler) {
  if (const std::error_code ec = writeError()) {
    postCall(connection_->tls_->executor(), std::move(handler), ec, std::size_t{0});
    return;
  }
  parked_buffer_ = buffer;
  parked_writer_ = std::move(handler);
  resumeWrite();
}

void MuxStream::resumeWrite() {
  if (!parked_writer_ || credit_ == 0) return;
  if (connection_->congested()) return connection_->waitForRoom(id_);
  const std::size_t size = sendData(parked_buffer_);
  postCall(connection_->tls_->executor(), std::move(parked_writer_), std::error_code(), size);
  parked_writer_ = nullptr;
}

std::size_t MuxStream::sendData(asio::const_buffer buffer) {
  const std::size_t size = std::min<std::size_t>(buffer.size(), credit_);
  const char* data = static_cast<const char*>(buffer.data());
  for (std::size_t offset = 0; offset < size; offset += kMuxDataChunk) {
    connection_->send(MuxConnection::FrameType::Data, id_, data + offset,
                      std::min(kMuxDataChunk, size - offset));
  }
  credit_ -= static_cast<std::uint32_t>(size);
  return size;
}

void MuxStream::shutdownWrite(DoneHandler handler) {
  std::error_code ec = failure_;
  if (!ec && !fin_sent_ && !released_) {
    fin_sent_ = true;
    connection_->send(MuxConnection::FrameType::Fin, id_);
  }
  postCall(connection_->tls_->executor(), std::move(handler), ec);
}

// Like closing a socket: pending handlers complete with operation_aborted, so whoever they
// keep alive is let go.
void MuxStream::close() {
  if (reader_) wakeReader(asio::error::operation_aborted);
  if (parked_writer_) {
    postCall(connection_->tls_->executor(), std::move(parked_writer_),
             std::error_code(asio::error::operation_aborted), std::size_t{0});
    parked_writer_ = nullptr;
  }
  release();
}

// Both directions ended cleanly, or the peer already knows: nothing to send. Otherwise the
// peer learns the stream was abandoned.
void MuxStream::release() {
  if (released_) return;
  released_ = true;
  if (!failure_ && !(fin_sent_ && fin_received_)) {
    connection_->send(MuxConnection::FrameType::Reset, id_);
  }
  connection_->forget(id_);
}

bool MuxStream::deliver(const char* data, std::size_t size) {
  if (size > receive_left_ || fin_received_) return false;
  receive_left_ -= static_cast<std::uint32_t>(size);
  if (read_offset_ > 0 && read_offset_ >= received_.size() / 2) {
    received_.erase(received_.begin(), received_.begin() + static_cast<long>(read_offset_));
    read_offset_ = 0;
  }
  received_.insert(received_.end(), data, data + size);
  wakeReader({});
  return true;
}

void MuxStream::finishedByPeer() {
  fin_received_ = true;
  wakeReader({});
}

void MuxStream::failed(const std::error_code& ec) {
  if (failure_) return;
  failure_ = ec;
  wakeReader({});
  if (parked_writer_) {
    postCall(connection_->tls_->executor(), std::move(parked_writer_), ec, std::size_t{0});
    parked_writer_ = nullptr;
  }
}

void MuxStream::addCredit(std::uint32_t bytes) {
  credit_ = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(std::uint64_t{credit_} + bytes, kMuxWindow));
  resumeWrite();
}

// --- MuxConnection -----------------------------------------------------------------------------

MuxConnection::MuxConnection(std::unique_ptr<TlsStream> tls, Role role, std::string peer_id)
    : tls_(std::move(tls)), role_(role), peer_id_(std::move(peer_id)), idle_(tls_->executor()) {}

MuxConnection::~MuxConnection() = default;

void MuxConnection::start(OnOpen on_open) {
  on_open_ = std::move(on_open);
  armIdle();
  read();
}

std::unique_ptr<MuxStream> MuxConnection::open() {
  const std::uint32_t id = ++next_id_;
  auto stream = std::make_unique<MuxStream>(shared_from_this(), id);
  send(FrameType::Open, id);
  idle_.cancel();
  return stream;
}

bool MuxConnection::acceptsStreams() const {
  return !failed_ && !retired_ && streams_.size() < kMaxStreams && next_id_ < UINT32_MAX;
}

void MuxConnection::retire() {
  retired_ = true;
  closeIfDone();
}

void MuxConnection::close(const std::error_code& why) {
  if (failed_) return;
  failed_ = true;
  idle_.cancel();
  tls_->close();
  std::string().swap(outbox_);
  forEachStream([&why](MuxStream& stream) { stream.failed(why); });
}

// Each stream forgets itself when its session lets it go, which may happen inside `visit`.
void MuxConnection::forEachStream(const std::function<void(MuxStream&)>& visit) {
  std::vector<MuxStream*> streams;
  streams.reserve(streams_.size());
  for (auto& [id, stream] : streams_) streams.push_back(stream);
  for (MuxStream* stream : streams) visit(*stream);
}

// A retired connection ends with its last stream, once what is queued (the last Fin or Reset)
// is written, with a close_notify.
void MuxConnection::closeIfDone() {
  if (!retired_ || failed_ || !streams_.empty() || writing_ || flush_scheduled_ ||
      !outbox_.empty() || closing_) {
    return;
  }
  closing_ = true;
  tls_->shutdownWrite(
      [self = shared_from_this()](const std::error_code&) { self->close(asio::error::eof); });
}

void MuxConnection::send(FrameType type, std::uint32_t id, const void* payload, std::size_t size) {
  if (failed_) return;
  char header[kMuxHeaderBytes];
  header[0] = static_cast<char>(type);
  putU32(header + 1, id);
  putU32(header + 5, static_cast<std::uint32_t>(size));
  outbox_.append(header, kMuxHeaderBytes);
  if (size > 0) outbox_.append(static_cast<const char*>(payload), size);
  scheduleFlush();
}

void MuxConnection::sendWindow(std::uint32_t id, std::uint32_t bytes) {
  char payload[4];
  putU32(payload, bytes);
  send(FrameType::Window, id, payload, sizeof payload);
}

bool MuxConnection::congested() const { return outbox_.size() >= kHighWater; }

void MuxConnection::waitForRoom(std::uint32_t id) { blocked_.push_back(id); }

// Frames queued while handlers of this loop turn run go out in one TLS write.
void MuxConnection::scheduleFlush() {
  if (flush_scheduled_ || writing_) return;
  flush_scheduled_ = true;
  asio::post(tls_->executor(), [self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->flush();
    self->closeIfDone();
  });
}

// The write is tried at once: the socket almost always has room, and then no completion has to
// go through the event loop.
void MuxConnection::flush() {
  if (writing_ || outbox_.empty() || failed_) return;
  writing_ = true;
  inflight_.swap(outbox_);
  outbox_.clear();
  std::error_code ec;
  const std::size_t written = tls_->writeNow(asio::buffer(inflight_), ec);
  if (ec && ec != asio::error::would_block) return close(ec);
  if (written < inflight_.size()) return writeInflight(written);
  wrote();
}

void MuxConnection::writeInflight(std::size_t offset) {
  tls_->writeSome(
      asio::buffer(inflight_.data() + offset, inflight_.size() - offset),
      [self = shared_from_this(), offset](const std::error_code& ec, std::size_t written) {
        if (self->failed_) return;
        if (ec) return self->close(ec);
        if (offset + written < self->inflight_.size()) {
          return self->writeInflight(offset + written);
        }
        self->wrote();
        self->flush();
        self->closeIfDone();
      });
}

// Streams that waited for room queue their frames now; those schedule the next flush.
void MuxConnection::wrote() {
  writing_ = false;
  if (inflight_.capacity() > kHighWater) std::string().swap(inflight_);
  inflight_.clear();
  resumeBlocked();
}

void MuxConnection::resumeBlocked() {
  std::vector<std::uint32_t> blocked;
  blocked.swap(blocked_);
  for (std::uint32_t id : blocked) {
    if (congested()) {
      blocked_.push_back(id);
      continue;
    }
    if (auto found = streams_.find(id); found != streams_.end()) found->second->resumeWrite();
  }
}

void MuxConnection::read() {
  for (int turn = 0; turn < kReadsPerTurn && !failed_; ++turn) {
    if (!read_buffer_) read_buffer_ = std::make_unique_for_overwrite<char[]>(kReadBytes);
    std::error_code ec;
    const std::size_t got = tls_->readNow(asio::buffer(read_buffer_.get(), kReadBytes), ec);
    if (ec == asio::error::would_block) return waitThenRead();
    if (ec == asio::error::eof) return peerFinished();
    if (ec) return close(ec);
    consume(read_buffer_.get(), got);
    // A short read ended the records OpenSSL had: the next read would most likely find the
    // socket empty, so wait for readiness (at once if OpenSSL still holds bytes) instead of
    // spending a read(2) to hear "nothing yet".
    if (got < kReadBytes && !failed_) return waitThenRead();
  }
  if (!failed_) asio::post(tls_->executor(), [self = shared_from_this()] { self->read(); });
}

void MuxConnection::waitThenRead() {
  read_buffer_.reset();  // an idle connection holds none
  tls_->waitReadable([self = shared_from_this()](const std::error_code& wait_ec) {
    if (self->failed_) return;
    if (wait_ec) return self->close(wait_ec);
    self->read();
  });
}

// close_notify: the peer sends nothing more, on any stream, and opens none. What it still owes
// an answer gets it; the connection closes after its last stream.
void MuxConnection::peerFinished() {
  read_buffer_.reset();
  retired_ = true;
  forEachStream([](MuxStream& stream) { stream.finishedByPeer(); });
  closeIfDone();
}

// Frames are decoded as the bytes come: a Data payload goes to its stream piece by piece, so
// nothing is copied twice and no frame waits whole in a buffer.
void MuxConnection::consume(const char* data, std::size_t size) {
  while (size > 0 && !failed_) {
    std::size_t taken = 0;
    if (payload_left_ == 0) {
      taken = std::min(kMuxHeaderBytes - header_have_, size);
      std::memcpy(header_ + header_have_, data, taken);
      header_have_ += taken;
      if (header_have_ == kMuxHeaderBytes) startFrame();
    } else {
      taken = std::min<std::size_t>(payload_left_, size);
      takePayload(data, taken);
    }
    data += taken;
    size -= taken;
  }
}

bool MuxConnection::validFrameSize(FrameType type, std::uint32_t size) {
  switch (type) {
    case FrameType::Data:
      return size <= kMuxMaxPayload;
    case FrameType::Window:
      return size == sizeof control_;
    case FrameType::Open:
    case FrameType::Fin:
    case FrameType::Reset:
      return size == 0;
  }
  return false;
}

void MuxConnection::startFrame() {
  header_have_ = 0;
  control_have_ = 0;
  frame_type_ = static_cast<FrameType>(header_[0]);
  frame_id_ = getU32(header_ + 1);
  const std::uint32_t size = getU32(header_ + 5);
  if (!validFrameSize(frame_type_, size)) {
    return protocolError(fmt::format("frame type {} of {} bytes", header_[0] & 0xff, size));
  }
  payload_left_ = size;
  if (size == 0) endFrame();
}

void MuxConnection::takePayload(const char* data, std::size_t size) {
  payload_left_ -= static_cast<std::uint32_t>(size);
  if (frame_type_ == FrameType::Data) {
    // Frames for a stream this side already let go are dropped: the peer sent them before it
    // learned.
    const auto found = streams_.find(frame_id_);
    if (found != streams_.end() && !found->second->deliver(data, size)) {
      return protocolError("data beyond the stream's credit");
    }
  } else {
    std::memcpy(control_ + control_have_, data, size);
    control_have_ += size;
  }
  if (payload_left_ == 0) endFrame();
}

void MuxConnection::endFrame() {
  if (frame_type_ == FrameType::Open) {
    if (role_ != Role::Server || frame_id_ <= next_id_) return protocolError("stream id reused");
    return onOpen(frame_id_);
  }
  const auto found = streams_.find(frame_id_);
  if (found == streams_.end()) return;
  MuxStream& stream = *found->second;
  switch (frame_type_) {
    case FrameType::Fin:
      return stream.finishedByPeer();
    case FrameType::Reset:
      return stream.failed(asio::error::connection_reset);
    case FrameType::Window:
      return stream.addCredit(getU32(control_));
    default:
      return;
  }
}

void MuxConnection::protocolError(const std::string& what) {
  spdlog::warn("mux: protocol error from {}: {}; closing the connection", peer_id_, what);
  close(asio::error::connection_reset);
}

void MuxConnection::onOpen(std::uint32_t id) {
  next_id_ = id;
  if (retired_ || streams_.size() >= kMaxStreams || !on_open_) {
    send(FrameType::Reset, id);
    return;
  }
  idle_.cancel();
  on_open_(std::make_unique<MuxStream>(shared_from_this(), id));
}

void MuxConnection::forget(std::uint32_t id) {
  streams_.erase(id);
  if (!streams_.empty() || failed_) return;
  if (retired_) return closeIfDone();
  armIdle();
}

void MuxConnection::armIdle() {
  if (!streams_.empty()) return;
  idle_.expires_after(role_ == Role::Client ? kClientIdle : 2 * kClientIdle);
  idle_.async_wait([weak = weak_from_this()](const std::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->failed_ || !self->streams_.empty()) return;
    self->close(asio::error::timed_out);
  });
}

// --- MuxPool -----------------------------------------------------------------------------------

std::shared_ptr<MuxConnection> MuxPool::find(const std::string& key, const TlsContexts* tls) {
  std::shared_ptr<MuxConnection> found;
  std::erase_if(entries_, [&](Entry& entry) {
    std::shared_ptr<MuxConnection> connection = entry.connection.lock();
    if (!connection || connection->failed()) return true;
    if (entry.tls.get() != tls) {
      // Set up with an earlier certificate or roots: its streams finish, no new ones start.
      connection->retire();
      return true;
    }
    if (!found && entry.key == key && connection->acceptsStreams()) found = connection;
    return false;
  });
  return found;
}

bool MuxPool::joinPending(const std::string& key, const TlsContexts* tls, Join join) {
  for (Pending& pending : pending_) {
    if (pending.key == key && pending.tls == tls) {
      pending.waiting.push_back(std::move(join));
      return true;
    }
  }
  return false;
}

void MuxPool::startPending(const std::string& key, const TlsContexts* tls) {
  pending_.push_back({key, tls, {}});
}

void MuxPool::settle(const std::string& key, const std::shared_ptr<const TlsContexts>& tls,
                     const std::shared_ptr<MuxConnection>& connection) {
  if (connection) entries_.push_back({key, tls, connection});
  std::vector<Join> waiting;
  for (auto pending = pending_.begin(); pending != pending_.end(); ++pending) {
    if (pending->key == key && pending->tls == tls.get()) {
      waiting = std::move(pending->waiting);
      pending_.erase(pending);
      break;
    }
  }
  for (Join& join : waiting) join(connection);
}

void MuxPool::retireAll() {
  for (Entry& entry : entries_) {
    if (auto connection = entry.connection.lock()) connection->retire();
  }
  entries_.clear();
}

}  // namespace peergate::proxy
