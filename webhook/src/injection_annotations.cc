#include "injection_annotations.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::webhook {
namespace {

// A failed check's reason (the text after "for annotation '<name>': "), or nullopt.
using Reason = std::optional<std::string>;

// Go's %q for the ASCII range, which is all Istio's messages need to stay unambiguous.
std::string goQuote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      std::array<char, 5> hex{};
      std::snprintf(hex.data(), hex.size(), "\\x%02x", byte);
      out += hex.data();
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string_view trimSpace(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

std::vector<std::string_view> splitCommas(std::string_view text) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

struct UintParse {
  std::uint64_t value = 0;
  Reason error;
};

// strconv.ParseUint(text, 10, bits): the first overflow is a range error, any non-digit before it
// a syntax error, exactly in Go's order.
UintParse goParseUint(std::string_view text, int bits) {
  const std::uint64_t max = (std::uint64_t{1} << bits) - 1;
  auto fail = [&](std::string_view why) {
    return UintParse{0, "strconv.ParseUint: parsing " + goQuote(text) + ": " + std::string(why)};
  };
  if (text.empty()) return fail("invalid syntax");
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return fail("invalid syntax");
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > max) return fail("value out of range");
  }
  return UintParse{value, std::nullopt};
}

struct PortParse {
  int port = 0;
  Reason error;
};

// Istio's parsePort: the error quotes the text as given, ParseUint sees it trimmed.
PortParse parsePort(std::string_view text) {
  const UintParse parsed = goParseUint(trimSpace(text), 16);
  if (parsed.error) return {0, "failed parsing port '" + std::string(text) + "': " + *parsed.error};
  return {static_cast<int>(parsed.value), std::nullopt};
}

struct PortsParse {
  std::vector<int> ports;
  Reason error;
};

// Istio's parsePorts, which wraps parsePort's message once more.
PortsParse parsePorts(std::string_view text) {
  PortsParse out;
  text = trimSpace(text);
  if (text.empty()) return out;
  for (const std::string_view part : splitCommas(text)) {
    PortParse port = parsePort(part);
    if (port.error) {
      out.error = "failed parsing port '" + std::string(part) + "': " + *port.error;
      return out;
    }
    out.ports.push_back(port.port);
  }
  return out;
}

Reason portListReason(std::string_view parameter, std::string_view value) {
  PortsParse parsed = parsePorts(value);
  if (!parsed.error) return std::nullopt;
  return std::string(parameter) + " invalid: " + *parsed.error;
}

std::string addrError(std::string_view in, std::string_view msg, std::string_view at = {}) {
  std::string out = "ParseAddr(" + goQuote(in) + "): " + std::string(msg);
  if (!at.empty()) out += " (at " + goQuote(at) + ")";
  return out;
}

// netip's parseIPv4 with its messages.
Reason ipv4Error(std::string_view in) {
  int value = 0;
  int digits = 0;
  int dots = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c >= '0' && c <= '9') {
      if (digits == 1 && value == 0) return addrError(in, "IPv4 field has octet with leading zero");
      value = value * 10 + (c - '0');
      ++digits;
      if (value > 255) return addrError(in, "IPv4 field has value >255");
    } else if (c == '.') {
      if (i == 0 || i == in.size() - 1 || in[i - 1] == '.') {
        return addrError(in, "IPv4 field must have at least one digit", in.substr(i));
      }
      if (dots == 3) return addrError(in, "IPv4 address too long");
      ++dots;
      value = digits = 0;
    } else {
      return addrError(in, "unexpected character", in.substr(i));
    }
  }
  if (dots < 3) return addrError(in, "IPv4 address too short");
  return std::nullopt;
}

// IPv6 (without its zone) is checked with inet_pton; a failure gets one generic netip-style
// reason.
Reason ipv6Error(std::string_view in) {
  const std::string address(in.substr(0, in.find('%')));
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET6, address.c_str(), bytes.data()) == 1) return std::nullopt;
  return addrError(in, "invalid IPv6 address");
}

Reason addrReason(std::string_view in) {
  for (const char c : in) {
    if (c == '.') return ipv4Error(in);
    if (c == ':') return ipv6Error(in);
    if (c == '%') return addrError(in, "missing IPv6 address");
  }
  return addrError(in, "unable to parse IP");
}

// netip.ParsePrefix with its messages.
Reason prefixReason(std::string_view in) {
  auto fail = [&](const std::string& msg) {
    return "netip.ParsePrefix(" + goQuote(in) + "): " + msg;
  };
  const auto slash = in.rfind('/');
  if (slash == std::string_view::npos) return fail("no '/'");
  const std::string_view addr = in.substr(0, slash);
  if (Reason bad_addr = addrReason(addr)) return fail(*bad_addr);
  if (addr.find('%') != std::string_view::npos) {
    return fail("IPv6 zones cannot be present in a prefix");
  }
  const std::string_view bits = in.substr(slash + 1);
  const bool bad_first = bits.size() > 1 && (bits[0] < '1' || bits[0] > '9');
  const UintParse parsed = goParseUint(bits, 32);
  if (bad_first || parsed.error) return fail("bad bits after slash: " + goQuote(bits));
  const std::uint64_t max_bits = addr.find(':') == std::string_view::npos ? 32 : 128;
  if (parsed.value > max_bits) return fail("prefix length out of range");
  return std::nullopt;
}

Reason cidrListReason(std::string_view cidrs) {
  if (cidrs.empty()) return std::nullopt;
  for (const std::string_view cidr : splitCommas(cidrs)) {
    if (Reason bad = prefixReason(cidr)) {
      return "failed parsing cidr '" + std::string(cidr) + "': " + *bad;
    }
  }
  return std::nullopt;
}

Reason interceptionModeReason(std::string_view mode) {
  if (mode == "REDIRECT" || mode == "TPROXY" || mode == "NONE") return std::nullopt;
  return "interceptionMode invalid, use REDIRECT,TPROXY,NONE: " + std::string(mode);
}

// Istio says "excludeInboundPorts invalid" here (a copy-paste slip); we name the parameter.
Reason statusPortReason(std::string_view port) {
  PortParse parsed = parsePort(port);
  if (!parsed.error) return std::nullopt;
  return "statusPort invalid: " + *parsed.error;
}

Reason uint32Reason(std::string_view value) { return goParseUint(value, 32).error; }

Reason boolReason(std::string_view value) {
  constexpr std::array<std::string_view, 12> kBools = {"1", "t", "T", "TRUE",  "true",  "True",
                                                       "0", "f", "F", "FALSE", "false", "False"};
  if (std::find(kBools.begin(), kBools.end(), value) != kBools.end()) return std::nullopt;
  return "strconv.ParseBool: parsing " + goQuote(value) + ": invalid syntax";
}

Reason includeIpRangesReason(std::string_view ranges) {
  if (ranges == "*") return std::nullopt;
  Reason bad = cidrListReason(ranges);
  return bad ? Reason("includeIPRanges invalid: " + *bad) : std::nullopt;
}

Reason excludeIpRangesReason(std::string_view ranges) {
  Reason bad = cidrListReason(ranges);
  return bad ? Reason("excludeIPRanges invalid: " + *bad) : std::nullopt;
}

Reason includeInboundPortsReason(std::string_view ports) {
  return ports == "*" ? std::nullopt : portListReason("includeInboundPorts", ports);
}

Reason excludeInboundPortsReason(std::string_view ports) {
  return portListReason("excludeInboundPorts", ports);
}

Reason excludeOutboundPortsReason(std::string_view ports) {
  return portListReason("excludeOutboundPorts", ports);
}

struct AnnotationRule {
  std::string_view name;
  Reason (*check)(std::string_view value);
};

constexpr std::array<AnnotationRule, 11> kRules = {{
    {kInterceptionModeAnnotation, &interceptionModeReason},
    {kStatusPortAnnotation, &statusPortReason},
    {kReadinessInitialDelayAnnotation, &uint32Reason},
    {kReadinessPeriodAnnotation, &uint32Reason},
    {kReadinessFailureThresholdAnnotation, &uint32Reason},
    {kIncludeOutboundIpRangesAnnotation, &includeIpRangesReason},
    {kExcludeOutboundIpRangesAnnotation, &excludeIpRangesReason},
    {kIncludeInboundPortsAnnotation, &includeInboundPortsReason},
    {kExcludeInboundPortsAnnotation, &excludeInboundPortsReason},
    {kExcludeOutboundPortsAnnotation, &excludeOutboundPortsReason},
    {kMergeMetricsAnnotation, &boolReason},
}};

const AnnotationRule* ruleFor(std::string_view name) {
  const auto it = std::find_if(kRules.begin(), kRules.end(),
                               [&](const AnnotationRule& rule) { return rule.name == name; });
  return it == kRules.end() ? nullptr : &*it;
}

const std::string* find(const validation::Labels& annotations, std::string_view name) {
  const auto it = annotations.find(std::string(name));
  return it == annotations.end() ? nullptr : &it->second;
}

std::vector<int> portsOf(const validation::Labels& annotations, std::string_view name) {
  const std::string* value = find(annotations, name);
  return value ? parsePorts(*value).ports : std::vector<int>{};
}

std::optional<std::uint32_t> uint32Of(const validation::Labels& annotations,
                                      std::string_view name) {
  const std::string* value = find(annotations, name);
  if (!value) return std::nullopt;
  return static_cast<std::uint32_t>(goParseUint(*value, 32).value);
}

std::vector<std::string> cidrsOf(const validation::Labels& annotations, std::string_view name) {
  const std::string* value = find(annotations, name);
  std::vector<std::string> cidrs;
  if (!value || value->empty()) return cidrs;
  for (const std::string_view cidr : splitCommas(*value)) cidrs.emplace_back(cidr);
  return cidrs;
}

InjectionAnnotations parseValid(const validation::Labels& annotations) {
  InjectionAnnotations out;
  if (const std::string* mode = find(annotations, kInterceptionModeAnnotation)) {
    out.interception_mode = *mode;
  }
  if (const std::string* port = find(annotations, kStatusPortAnnotation)) {
    out.status_port = parsePort(*port).port;
  }
  if (const std::string* ports = find(annotations, kIncludeInboundPortsAnnotation);
      ports && *ports != "*") {
    out.include_inbound_ports = parsePorts(*ports).ports;
  }
  out.exclude_inbound_ports = portsOf(annotations, kExcludeInboundPortsAnnotation);
  out.exclude_outbound_ports = portsOf(annotations, kExcludeOutboundPortsAnnotation);
  out.exclude_outbound_cidrs = cidrsOf(annotations, kExcludeOutboundIpRangesAnnotation);
  out.readiness_initial_delay_seconds = uint32Of(annotations, kReadinessInitialDelayAnnotation);
  out.readiness_period_seconds = uint32Of(annotations, kReadinessPeriodAnnotation);
  out.readiness_failure_threshold = uint32Of(annotations, kReadinessFailureThresholdAnnotation);
  return out;
}

}  // namespace

std::vector<std::string> injectionAnnotationErrors(const validation::Labels& annotations) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : annotations) {
    const AnnotationRule* rule = ruleFor(name);
    if (!rule) continue;
    if (Reason reason = rule->check(value)) {
      errors.push_back("invalid value '" + value + "' for annotation '" + name + "': " + *reason);
    }
  }
  return errors;
}

validation::Result<InjectionAnnotations> readInjectionAnnotations(
    const validation::Labels& annotations) {
  const std::vector<std::string> errors = injectionAnnotationErrors(annotations);
  if (errors.empty()) return parseValid(annotations);
  validation::Error error;
  error.code = "inject.annotation";
  error.document = -1;
  error.path = "metadata.annotations";
  for (const std::string& message : errors) {
    error.message += (error.message.empty() ? "" : "; ") + message;
  }
  return error;
}

}  // namespace peergate::webhook
