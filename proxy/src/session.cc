#include "session.h"

#include <vector>

#include <spdlog/spdlog.h>
#include <asio/connect.hpp>

namespace peergate::proxy {
namespace {

constexpr int kRelaysPerTurn = 4;

// Splice buffers are taken when a direction has bytes to move and given back as soon as its
// next read would wait, so an idle connection holds none (10,000 idle connections would
// otherwise pin 32 KiB each). A few are kept for reuse; one pool per thread because each
// io_context runs on one thread and sessions never leave it.
class BufferPool {
 public:
  std::unique_ptr<char[]> take(std::size_t bytes) {
    if (bytes != bytes_) {
      free_.clear();
      bytes_ = bytes;
    }
    if (free_.empty()) return std::make_unique_for_overwrite<char[]>(bytes);
    std::unique_ptr<char[]> buffer = std::move(free_.back());
    free_.pop_back();
    return buffer;
  }
  void give(std::unique_ptr<char[]> buffer, std::size_t bytes) {
    if (buffer && bytes == bytes_ && free_.size() < kKept) free_.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kKept = 64;
  std::size_t bytes_ = 0;
  std::vector<std::unique_ptr<char[]>> free_;
};

thread_local BufferPool buffer_pool;

}  // namespace

Session::Session(SessionContext& context, Direction direction, asio::ip::tcp::socket client)
    : context_(context),
      direction_(direction),
      client_(std::move(client)),
      upstream_(client_.get_executor()),
      deadline_(client_.get_executor()),
      idle_(client_.get_executor()) {
  context_.live.insert(this);
  context_.stats.opened();
  std::error_code ignored;
  client_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

Session::~Session() {
  for (auto& buffer : buffers_) buffer_pool.give(std::move(buffer), context_.limits.buffer_bytes);
  context_.live.erase(this);
  context_.stats.closed();
}

void Session::close() {
  if (closed_) return;
  closed_ = true;
  deadline_.cancel();
  idle_.cancel();
  std::error_code ignored;
  client_.close(ignored);
  upstream_.close(ignored);
  for (auto& stream : streams_) {
    if (stream) stream->close();
  }
}

// A timer completion already queued when the deadline is re-armed or disarmed still runs; the
// generation tells it that it belongs to an earlier phase (sniff, handshake, connect).
void Session::armDeadline(std::chrono::milliseconds timeout, std::function<void()> on_expiry) {
  const std::uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), generation,
                        on_expiry = std::move(on_expiry)](const std::error_code& ec) {
    if (!ec && !self->closed_ && generation == self->deadline_generation_) on_expiry();
  });
}

void Session::disarmDeadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

void Session::connectUpstream(const asio::ip::tcp::endpoint& target,
                              std::function<void(const std::error_code&)> on_done) {
  armDeadline(context_.limits.handshake_timeout, [this] {
    std::error_code ignored;
    upstream_.close(ignored);  // the pending connect completes with operation_aborted
  });
  upstream_.async_connect(
      target, [self = shared_from_this(), on_done = std::move(on_done)](const std::error_code& ec) {
        self->disarmDeadline();
        if (self->closed_) return;
        if (!ec) {
          std::error_code ignored;
          self->upstream_.set_option(asio::ip::tcp::no_delay(true), ignored);
        }
        on_done(ec);
      });
}

void Session::record(int port, std::string_view security, std::string_view outcome) {
  if (recorded_) return;
  recorded_ = true;
  context_.stats.connection(direction_, port, security, outcome);
}

void Session::refuse(int port, std::string_view security, std::string_view reason) {
  context_.stats.handshakeFailure(direction_, reason);
  record(port, security, "rejected");
  spdlog::info("{} connection to port {} refused: {}", toString(direction_), port, reason);
  close();
}

void Session::startSplice() {
  last_activity_ = std::chrono::steady_clock::now();
  armIdle();
  pump(0);
  pump(1);
}

void Session::armIdle() {
  idle_.expires_at(last_activity_ + context_.limits.idle_timeout);
  idle_.async_wait([self = shared_from_this()](const std::error_code& ec) {
    if (ec || self->closed_) return;
    if (std::chrono::steady_clock::now() - self->last_activity_ >=
        self->context_.limits.idle_timeout) {
      spdlog::debug("{} connection idle; closing", toString(self->direction_));
      self->close();
      return;
    }
    self->armIdle();
  });
}

// Backpressure: the next read starts only after everything read has been written. While data
// keeps coming the buffer is reused at once; when a read would wait it goes back to the pool.
// A read that did not fill the buffer (and left nothing inside the TLS layer) emptied the
// socket, so the next one waits for readiness first instead of spending a system call to hear
// "nothing yet"; readiness cannot be missed, since arming the wait reports data already there.
// A write the other side takes at once keeps the relay in this handler, up to kRelaysPerTurn
// reads, before the loop turns to other connections.
void Session::pump(int from) {
  if (closed_) return;
  for (int turn = 0; turn < kRelaysPerTurn; ++turn) {
    if (drained_[from] && !streams_[from]->hasBuffered()) return waitAfterSend(from);
    const std::size_t size =
        std::min(context_.limits.buffer_bytes, streams_[1 - from]->writeChunk());
    if (!buffers_[from]) buffers_[from] = buffer_pool.take(context_.limits.buffer_bytes);
    std::error_code ec;
    const std::size_t bytes = streams_[from]->readNow(asio::buffer(buffers_[from].get(), size), ec);
    if (ec == asio::error::would_block) return waitThenPump(from);
    drained_[from] = bytes < size;
    if (ec) return onReadError(from, ec);
    last_activity_ = std::chrono::steady_clock::now();
    context_.stats.addBytes(direction_, bytes);
    const std::size_t written =
        streams_[1 - from]->writeNow(asio::buffer(buffers_[from].get(), bytes), ec);
    if (ec && ec != asio::error::would_block) return close();
    if (written < bytes) return writeOut(from, written, bytes);
  }
  later(&Session::pump, from);
}

// Arming a wait costs a system call (epoll_ctl); when what was just read only goes out at the
// end of this loop turn, the wait is armed after it, off the request's path.
void Session::waitAfterSend(int from) {
  if (!streams_[1 - from]->sendsLater()) return waitThenPump(from);
  later(&Session::waitThenPump, from);
}

// After the handlers already queued, unless the session closed meanwhile.
void Session::later(void (Session::*step)(int), int from) {
  asio::post(idle_.get_executor(), [self = shared_from_this(), step, from] {
    if (!self->closed_) (self.get()->*step)(from);
  });
}

void Session::waitThenPump(int from) {
  buffer_pool.give(std::move(buffers_[from]), context_.limits.buffer_bytes);
  drained_[from] = false;
  streams_[from]->waitReadable([self = shared_from_this(), from](const std::error_code& wait_ec) {
    if (self->closed_) return;
    if (wait_ec) return self->close();
    self->pump(from);
  });
}

void Session::onReadError(int from, const std::error_code& ec) {
  if (ec != asio::error::eof) return close();
  // Half-close: pass the end of stream on and keep copying the other way.
  streams_[1 - from]->shutdownWrite(
      [self = shared_from_this(), from](const std::error_code& shutdown_ec) {
        self->onShutdown(from, shutdown_ec);
      });
}

void Session::writeOut(int from, std::size_t offset, std::size_t size) {
  streams_[1 - from]->writeSome(asio::buffer(buffers_[from].get() + offset, size - offset),
                                [self = shared_from_this(), from, offset, size](
                                    const std::error_code& ec, std::size_t written) {
                                  if (self->closed_) return;
                                  if (ec) {
                                    self->close();
                                    return;
                                  }
                                  self->last_activity_ = std::chrono::steady_clock::now();
                                  if (offset + written < size) {
                                    self->writeOut(from, offset + written, size);
                                  } else {
                                    self->pump(from);
                                  }
                                });
}

void Session::onShutdown(int from, const std::error_code& ec) {
  if (closed_) return;
  finished_[from] = true;
  if (ec || (finished_[0] && finished_[1])) close();
}

}  // namespace peergate::proxy
