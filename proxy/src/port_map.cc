#include <arpa/inet.h>

#include <charconv>

#include "peergate/proxy/options.h"

namespace peergate::proxy {
namespace {

// "a,b," is three entries, the last one empty (and so reported), not two.
std::vector<std::string_view> splitList(std::string_view text) {
  std::vector<std::string_view> parts;
  for (;;) {
    const std::size_t comma = text.find(',');
    parts.push_back(text.substr(0, comma));
    if (comma == std::string_view::npos) return parts;
    text.remove_prefix(comma + 1);
  }
}

std::optional<uint16_t> parsePort(std::string_view text, bool allow_zero) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  if (value == 0 && !allow_zero) return std::nullopt;
  return static_cast<uint16_t>(value);
}

bool validIp(const std::string& ip) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, ip.c_str(), buffer) == 1;
}

// "IP:PORT" or "[IPv6]:PORT".
bool parseEndpoint(std::string_view text, std::string& ip, uint16_t& port) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  ip = std::string(host);
  const std::optional<uint16_t> parsed = parsePort(text.substr(colon + 1), false);
  if (!parsed || !validIp(ip)) return false;
  port = *parsed;
  return true;
}

std::string badEntry(std::string_view entry, std::string_view expected) {
  return "bad entry \"" + std::string(entry) + "\": expected " + std::string(expected);
}

}  // namespace

std::optional<std::vector<InboundMapping>> parseInboundMap(std::string_view text,
                                                           std::string& error) {
  std::vector<InboundMapping> mappings;
  for (std::string_view entry : splitList(text)) {
    const std::size_t equals = entry.find('=');
    std::optional<uint16_t> listen;
    std::optional<uint16_t> app;
    if (equals != std::string_view::npos) {
      listen = parsePort(entry.substr(0, equals), true);
      app = parsePort(entry.substr(equals + 1), false);
    }
    if (!listen || !app) {
      error = badEntry(entry, "LISTEN=APPPORT with ports 0..65535 (LISTEN 0: any free port)");
      return std::nullopt;
    }
    mappings.push_back({*listen, *app});
  }
  return mappings;
}

std::optional<std::vector<OutboundMapping>> parseOutboundMap(std::string_view text,
                                                             std::string& error) {
  std::vector<OutboundMapping> mappings;
  for (std::string_view entry : splitList(text)) {
    const std::size_t equals = entry.find('=');
    OutboundMapping mapping;
    std::optional<uint16_t> listen;
    if (equals != std::string_view::npos) listen = parsePort(entry.substr(0, equals), true);
    if (!listen || !parseEndpoint(entry.substr(equals + 1), mapping.ip, mapping.port)) {
      error = badEntry(entry, "LISTEN=IP:PORT, e.g. 15101=10.1.0.7:8000");
      return std::nullopt;
    }
    mapping.listen_port = *listen;
    mappings.push_back(std::move(mapping));
  }
  return mappings;
}

}  // namespace peergate::proxy
