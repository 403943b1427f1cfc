// peergate_bench_idle: many idle connections through the proxies, to weigh what an idle
// connection costs them.
//
//   peergate_bench_idle --sink --port P [--seconds 120]
//       the app: accepts on 127.0.0.1:P and echoes, until killed or `seconds` pass
//   peergate_bench_idle --port P --count N [--seconds 120]
//       opens N connections (at most 256 being set up at once), sends one byte on each and waits
//       for its echo — so every connection is spliced end to end and has carried data — prints
//       {"established":…,"failed":…,"seconds":…}, then holds them until killed or `seconds` pass
#include <sys/epoll.h>

#include "load_support.h"

namespace peergate::bench {
namespace {

constexpr std::size_t kSetupWindow = 256;

int listenOn(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in address = loopback(port);
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 4096) != 0) {
    fail("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  return fd;
}

void addToEpoll(int epoll, int fd, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

void sink(uint16_t port, int64_t end) {
  const int listener = listenOn(port);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  addToEpoll(epoll, listener, EPOLLIN);
  epoll_event events[64];
  while (nowNs() < end) {
    const int ready = ::epoll_wait(epoll, events, 64, 200);
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int client; (client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          addToEpoll(epoll, client, EPOLLIN);
        }
        continue;
      }
      char buffer[512];
      const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got > 0) {
        ::send(fd, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL);
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        ::close(fd);
      }
    }
  }
}

// Sets up `count` connections, `kSetupWindow` at a time; returns how many got their echo.
int64_t establish(uint16_t port, int64_t count, int64_t end, std::vector<int>& held) {
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  int64_t started = 0;
  int64_t pending = 0;
  int64_t failed = 0;
  epoll_event events[64];
  while ((started < count || pending > 0) && nowNs() < end) {
    while (started < count && pending < static_cast<int64_t>(kSetupWindow)) {
      ++started;
      const int fd = startConnect(port);
      if (fd < 0) {
        ++failed;
        continue;
      }
      addToEpoll(epoll, fd, EPOLLOUT);
      ++pending;
    }
    const int ready = ::epoll_wait(epoll, events, 64, 200);
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if ((events[i].events & EPOLLOUT) != 0) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event);
        if (::send(fd, "x", 1, MSG_NOSIGNAL) == 1) continue;
      } else {
        char echo = 0;
        if (::recv(fd, &echo, 1, 0) == 1 && echo == 'x') {
          ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
          held.push_back(fd);
          --pending;
          continue;
        }
      }
      ::close(fd);
      ++failed;
      --pending;
    }
  }
  ::close(epoll);
  return failed + pending;
}

}  // namespace
}  // namespace peergate::bench

int main(int argc, char** argv) {
  using namespace peergate::bench;
  const Flags flags(argc, argv, {"--sink", "--port", "--count", "--seconds"});
  if (!flags.has("--port")) fail("usage: peergate_bench_idle [--sink] --port P [--count N]");
  const auto port = static_cast<uint16_t>(flags.number("--port", 0));
  const int64_t start = nowNs();
  const int64_t end = start + flags.number("--seconds", 120) * 1'000'000'000;
  if (flags.has("--sink")) {
    sink(port, end);
    return 0;
  }
  std::vector<int> held;
  const int64_t failed = establish(port, flags.number("--count", 100), end, held);
  std::printf("{\"established\":%zu,\"failed\":%lld,\"seconds\":%.2f}\n", held.size(),
              static_cast<long long>(failed), static_cast<double>(nowNs() - start) / 1e9);
  std::fflush(stdout);
  while (nowNs() < end) ::usleep(100'000);  // hold them until killed
  return 0;
}
