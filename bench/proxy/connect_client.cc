// peergate_bench_connect: new connections per second. Each connection connects, sends one
// `Connection: close` GET, reads the whole response and closes; `--concurrency` of them run at
// once. Through an outbound proxy every connection costs the proxy pair a full mTLS handshake.
//
//   peergate_bench_connect --port P [--concurrency 8] [--duration 5] [--max 100000]
//
// Bounded: no new connection starts after `duration` seconds or `max` connections, and the
// run is abandoned 5 s after that. Latency is per connection, connect() to the last byte.
// Prints one JSON object.
#include <sys/epoll.h>

#include "load_support.h"

namespace peergate::bench {
namespace {

constexpr int64_t kGraceNs = 5'000'000'000;

struct Attempt {
  int fd = -1;
  int64_t started = 0;
  bool sent = false;
  ResponseReader reader;
};

class ConnectClient {
 public:
  ConnectClient(uint16_t port, int64_t concurrency, int64_t duration_s, int64_t max)
      : port_(port),
        max_(max),
        duration_ns_(duration_s * 1'000'000'000),
        attempts_(static_cast<std::size_t>(concurrency)) {}

  void run();
  std::string json();

 private:
  void begin(std::size_t slot);
  void finish(std::size_t slot, bool ok);
  void onEvent(std::size_t slot, uint32_t events);
  bool mayStart() const { return started_ < max_ && nowNs() - start_ < duration_ns_; }

  const uint16_t port_;
  const int64_t max_;
  const int64_t duration_ns_;
  std::vector<Attempt> attempts_;
  int epoll_ = -1;
  int64_t start_ = 0;
  int64_t started_ = 0;
  int64_t completed_ = 0;
  int64_t errors_ = 0;
  int64_t active_ = 0;
  int64_t elapsed_ns_ = 0;
  std::vector<int64_t> latencies_;
};

void ConnectClient::begin(std::size_t slot) {
  Attempt& attempt = attempts_[slot];
  attempt = Attempt{};
  if (!mayStart()) return;
  ++started_;
  attempt.started = nowNs();
  attempt.fd = startConnect(port_);
  if (attempt.fd < 0) {
    ++errors_;
    return;
  }
  ++active_;
  epoll_event event{};
  event.events = EPOLLOUT | EPOLLIN;
  event.data.u64 = slot;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, attempt.fd, &event);
}

void ConnectClient::finish(std::size_t slot, bool ok) {
  Attempt& attempt = attempts_[slot];
  if (ok) {
    latencies_.push_back(nowNs() - attempt.started);
    ++completed_;
  } else {
    ++errors_;
  }
  ::close(attempt.fd);  // also leaves the epoll set
  --active_;
  begin(slot);
}

void ConnectClient::onEvent(std::size_t slot, uint32_t events) {
  static const std::string request = httpGet(false);
  Attempt& attempt = attempts_[slot];
  if (!attempt.sent && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(attempt.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0 || ::send(attempt.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                          static_cast<ssize_t>(request.size())) {
      return finish(slot, false);
    }
    attempt.sent = true;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = slot;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, attempt.fd, &event);
    return;
  }
  char buffer[4096];
  const ssize_t got = ::recv(attempt.fd, buffer, sizeof buffer, 0);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (got <= 0) return finish(slot, false);
  if (attempt.reader.feed(buffer, static_cast<std::size_t>(got))) {
    finish(slot, attempt.reader.ok());
  }
}

void ConnectClient::run() {
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  start_ = nowNs();
  for (std::size_t slot = 0; slot < attempts_.size(); ++slot) begin(slot);
  epoll_event events[64];
  while (active_ > 0 && nowNs() - start_ < duration_ns_ + kGraceNs) {
    const int ready = ::epoll_wait(epoll_, events, 64, 100);
    for (int i = 0; i < ready; ++i) {
      onEvent(static_cast<std::size_t>(events[i].data.u64), events[i].events);
    }
  }
  elapsed_ns_ = nowNs() - start_;
  errors_ += active_;  // abandoned after the grace period
}

std::string ConnectClient::json() {
  char head[200];
  std::snprintf(head, sizeof head, "{\"connections\":%lld,\"errors\":%lld,\"per_second\":%.1f,",
                static_cast<long long>(completed_), static_cast<long long>(errors_),
                static_cast<double>(completed_) * 1e9 / static_cast<double>(elapsed_ns_));
  return head + latencyJson(latencies_) + "}";
}

}  // namespace
}  // namespace peergate::bench

int main(int argc, char** argv) {
  using namespace peergate::bench;
  const Flags flags(argc, argv, {"--port", "--concurrency", "--duration", "--max"});
  if (!flags.has("--port")) fail("usage: peergate_bench_connect --port P [--concurrency K]");
  ConnectClient client(static_cast<uint16_t>(flags.number("--port", 0)),
                       std::max<int64_t>(1, flags.number("--concurrency", 8)),
                       flags.number("--duration", 5), flags.number("--max", 100000));
  client.run();
  std::printf("%s\n", client.json().c_str());
  return 0;
}
