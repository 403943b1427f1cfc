// What the proxy benchmark's load clients share: monotonic time, flags, non-blocking loopback
// sockets, a minimal HTTP/1.1 response reader and percentiles. Plain POSIX + epoll so the clients
// cost as little CPU as possible next to the proxies they measure on the same two cores.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::bench {

inline int64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] inline void fail(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::exit(2);
}

// `--name value` pairs and bare `--flag`s; every program lists the names it accepts.
class Flags {
 public:
  Flags(int argc, char** argv, const std::vector<std::string>& known) {
    for (int i = 1; i < argc; ++i) {
      std::string name = argv[i];
      if (std::find(known.begin(), known.end(), name) == known.end()) fail("unknown flag " + name);
      const bool has_value = i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0;
      values_[name] = has_value ? argv[++i] : "";
    }
  }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  int64_t number(const std::string& name, int64_t fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    int64_t value = 0;
    const auto [end, ec] =
        std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
    if (ec != std::errc() || end != it->second.data() + it->second.size() || value < 0) {
      fail(name + " needs a non-negative integer");
    }
    return value;
  }
  std::string text(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

 private:
  std::map<std::string, std::string> values_;
};

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A non-blocking connect to 127.0.0.1:port already under way (EINPROGRESS); -1 on failure.
inline int startConnect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const sockaddr_in address = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline std::string httpGet(bool keep_alive) {
  return std::string("GET / HTTP/1.1\r\nHost: bench\r\n") +
         (keep_alive ? "" : "Connection: close\r\n") + "\r\n";
}

// Accumulates the bytes of one HTTP/1.1 response with a Content-Length (nginx's static reply).
class ResponseReader {
 public:
  void reset() { data_.clear(); }
  // Appends what arrived; true once the whole response (head and body) is in.
  bool feed(const char* bytes, std::size_t size) {
    data_.append(bytes, size);
    const std::size_t head_end = data_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    return data_.size() >= head_end + 4 + contentLength(head_end);
  }
  bool ok() const { return data_.rfind("HTTP/1.1 200", 0) == 0; }

 private:
  std::size_t contentLength(std::size_t head_end) const {
    for (std::size_t line = data_.find("\r\n"); line < head_end;
         line = data_.find("\r\n", line + 2)) {
      constexpr std::string_view kName = "content-length:";
      if (line + 2 + kName.size() > data_.size()) break;
      bool match = true;
      for (std::size_t i = 0; i < kName.size() && match; ++i) {
        match = std::tolower(static_cast<unsigned char>(data_[line + 2 + i])) == kName[i];
      }
      if (match) return std::strtoul(data_.c_str() + line + 2 + kName.size(), nullptr, 10);
    }
    return 0;
  }

  std::string data_;
};

// Nearest-rank percentile of `sorted` (ascending), in microseconds.
inline double percentileUs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[rank]) / 1000.0;
}

// {"requests":…,"p50_us":…} for latencies in nanoseconds (sorted in place).
inline std::string latencyJson(std::vector<int64_t>& latencies) {
  std::sort(latencies.begin(), latencies.end());
  char text[256];
  std::snprintf(text, sizeof text,
                "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f",
                percentileUs(latencies, 50), percentileUs(latencies, 90),
                percentileUs(latencies, 99), percentileUs(latencies, 99.9),
                percentileUs(latencies, 100));
  return text;
}

}  // namespace peergate::bench
