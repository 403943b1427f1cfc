// peergate_bench_rate: HTTP/1.1 GETs at a fixed rate over keep-alive connections, the latency
// distribution at a load the proxies can carry (wrk only measures at saturation).
//
//   peergate_bench_rate --port P [--rate 1000] [--duration 5] [--connections 8] [--timeout 5]
//
// Open loop: request i is due at start + i / rate whatever happened before, and its latency runs
// from that due time, so a stall is paid by every request it delays (no coordinated omission).
// A due request waits for a free connection (at most one request in flight per connection).
// Bounded: rate × duration requests, and the run ends `timeout` seconds after the last is due.
// Prints one JSON object.
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>

#include <deque>

#include "load_support.h"

namespace peergate::bench {
namespace {

constexpr int64_t kMaxRequests = 5'000'000;

struct Connection {
  int fd = -1;
  int64_t due = 0;  // of the request in flight
  ResponseReader reader;
};

class RateClient {
 public:
  RateClient(uint16_t port, int64_t rate, int64_t duration_s, int64_t connections)
      : port_(port),
        total_(std::min(rate * duration_s, kMaxRequests)),
        interval_ns_(1'000'000'000 / std::max<int64_t>(rate, 1)),
        connections_(static_cast<std::size_t>(connections)) {}

  void run(int64_t timeout_s);
  std::string json() const;

 private:
  void open(std::size_t index);
  void onTimer();
  void onReadable(std::size_t index);
  void dispatch();
  void armTimer();

  const uint16_t port_;
  const int64_t total_;
  const int64_t interval_ns_;
  std::vector<Connection> connections_;
  std::vector<std::size_t> free_;
  std::deque<int64_t> waiting_;  // due times of requests without a connection yet
  int epoll_ = -1;
  int timer_ = -1;
  int64_t start_ = 0;
  int64_t next_ = 0;  // index of the next request to become due
  int64_t completed_ = 0;
  int64_t errors_ = 0;
  int64_t max_lag_ns_ = 0;
  int64_t elapsed_ns_ = 0;
  mutable std::vector<int64_t> latencies_;
};

void RateClient::open(std::size_t index) {
  Connection& connection = connections_[index];
  if (connection.fd >= 0) ::close(connection.fd);
  connection.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in address = loopback(port_);
  if (connection.fd < 0 ||
      ::connect(connection.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    fail("cannot connect to 127.0.0.1:" + std::to_string(port_) + ": " + std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(connection.fd, F_SETFL, O_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = index;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connection.fd, &event);
  connection.reader.reset();
  free_.push_back(index);
}

void RateClient::armTimer() {
  if (next_ >= total_) return;
  const int64_t due = start_ + next_ * interval_ns_;
  itimerspec spec{};
  spec.it_value.tv_sec = due / 1'000'000'000;
  spec.it_value.tv_nsec = due % 1'000'000'000;
  ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void RateClient::onTimer() {
  uint64_t expirations = 0;
  if (::read(timer_, &expirations, sizeof expirations) < 0 && errno != EAGAIN) fail("timerfd");
  const int64_t now = nowNs();
  while (next_ < total_ && start_ + next_ * interval_ns_ <= now) {
    waiting_.push_back(start_ + next_ * interval_ns_);
    ++next_;
  }
  armTimer();
}

void RateClient::dispatch() {
  static const std::string request = httpGet(true);
  while (!waiting_.empty() && !free_.empty()) {
    const std::size_t index = free_.back();
    free_.pop_back();
    Connection& connection = connections_[index];
    connection.due = waiting_.front();
    waiting_.pop_front();
    max_lag_ns_ = std::max(max_lag_ns_, nowNs() - connection.due);
    if (::send(connection.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      ++errors_;
      open(index);
    }
  }
}

void RateClient::onReadable(std::size_t index) {
  Connection& connection = connections_[index];
  char buffer[4096];
  const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, 0);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (got <= 0) {  // the server or a proxy closed the connection under a request
    ++errors_;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.fd, nullptr);
    open(index);
    return;
  }
  if (!connection.reader.feed(buffer, static_cast<std::size_t>(got))) return;
  if (connection.reader.ok()) {
    latencies_.push_back(nowNs() - connection.due);
    ++completed_;
  } else {
    ++errors_;
  }
  connection.reader.reset();
  free_.push_back(index);
}

void RateClient::run(int64_t timeout_s) {
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // wake at the due time, not up to 50 µs later
  epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
  timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event timer_event{};
  timer_event.events = EPOLLIN;
  timer_event.data.u64 = UINT64_MAX;
  ::epoll_ctl(epoll_, EPOLL_CTL_ADD, timer_, &timer_event);
  for (std::size_t i = 0; i < connections_.size(); ++i) open(i);
  latencies_.reserve(static_cast<std::size_t>(total_));
  start_ = nowNs() + 10'000'000;
  const int64_t end = start_ + total_ * interval_ns_ + timeout_s * 1'000'000'000;
  armTimer();
  epoll_event events[64];
  while (completed_ + errors_ < total_ && nowNs() < end) {
    const int ready = ::epoll_wait(epoll_, events, 64, 100);
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.u64 == UINT64_MAX) {
        onTimer();
      } else {
        onReadable(static_cast<std::size_t>(events[i].data.u64));
      }
    }
    dispatch();
  }
  elapsed_ns_ = nowNs() - start_;
  errors_ += total_ - completed_ - errors_;  // never answered within the timeout
}

std::string RateClient::json() const {
  char head[256];
  std::snprintf(
      head, sizeof head,
      "{\"requests\":%lld,\"errors\":%lld,\"achieved_rps\":%.1f,\"max_send_lag_us\":%.1f,",
      static_cast<long long>(completed_), static_cast<long long>(errors_),
      static_cast<double>(completed_) * 1e9 / static_cast<double>(elapsed_ns_),
      static_cast<double>(max_lag_ns_) / 1000.0);
  return head + latencyJson(latencies_) + "}";
}

}  // namespace
}  // namespace peergate::bench

int main(int argc, char** argv) {
  using namespace peergate::bench;
  const Flags flags(argc, argv, {"--port", "--rate", "--duration", "--connections", "--timeout"});
  if (!flags.has("--port")) fail("usage: peergate_bench_rate --port P [--rate R] [--duration S]");
  RateClient client(static_cast<uint16_t>(flags.number("--port", 0)), flags.number("--rate", 1000),
                    flags.number("--duration", 5),
                    std::max<int64_t>(1, flags.number("--connections", 8)));
  client.run(flags.number("--timeout", 5));
  std::printf("%s\n", client.json().c_str());
  return 0;
}
