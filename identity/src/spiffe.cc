#include "peergate/identity/spiffe.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace peergate::identity {
namespace {

constexpr std::string_view kScheme = "spiffe://";
constexpr std::string_view kShape = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>";
// The SPIFFE spec's limits: a URI of at most 2048 bytes, a trust domain of at most 255.
constexpr std::size_t kMaxUriLength = 2048;
constexpr std::size_t kMaxTrustDomainLength = 255;
// Kubernetes: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
constexpr std::size_t kMaxLabelLength = 63;
constexpr std::size_t kMaxSubdomainLength = 253;
// Quoting a hostile 2 KiB URI back in full helps nobody reading a log line.
constexpr std::size_t kMaxQuotedLength = 120;

std::string quoted(std::string_view text) {
  if (text.size() <= kMaxQuotedLength) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kMaxQuotedLength)) + "...\"";
}

Error spiffeError(std::string_view code, std::string_view uri, const std::string& reason) {
  Error error;
  error.code = "spiffe." + std::string(code);
  error.message = "invalid SPIFFE ID " + quoted(uri) + ": " + reason + " (expected " +
                  std::string(kShape) + ")";
  return error;
}

Error peerError(std::string_view code, std::string message) {
  Error error;
  error.code = "peer." + std::string(code);
  error.message = std::move(message);
  return error;
}

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string charName(char c) {
  if (std::isprint(static_cast<unsigned char>(c)) != 0) return std::string("'") + c + "'";
  return "byte " + std::to_string(static_cast<unsigned char>(c));
}

std::optional<std::string> trustDomainProblem(std::string_view domain) {
  if (domain.empty()) return "the trust domain is empty";
  if (domain.size() > kMaxTrustDomainLength) return "the trust domain is longer than 255 bytes";
  for (const char c : domain) {
    if (c == ':') return "the trust domain must not have a port";
    if (c == '@') return "the trust domain must not have user info";
    if (c >= 'A' && c <= 'Z') return "the trust domain must be lowercase";
    if (!isLowerAlnum(c) && c != '.' && c != '-' && c != '_') {
      return "the trust domain has " + charName(c) +
             "; only a-z, 0-9, '.', '-' and '_' are allowed";
    }
  }
  return std::nullopt;
}

// A Kubernetes DNS-1123 label (dots=false) or subdomain (dots=true).
std::optional<std::string> kubeNameProblem(std::string_view what, std::string_view name,
                                           bool dots) {
  const std::string prefix = std::string(what) + " " + quoted(name);
  const std::size_t max = dots ? kMaxSubdomainLength : kMaxLabelLength;
  if (name.empty()) return std::string(what) + " is empty";
  if (name.size() > max) return prefix + " is longer than " + std::to_string(max) + " characters";
  for (const char c : name) {
    if (!isLowerAlnum(c) && c != '-' && !(dots && c == '.')) {
      return prefix + " has " + charName(c) + "; a Kubernetes " +
             (dots ? "name allows a-z, 0-9, '-' and '.'" : "namespace allows a-z, 0-9 and '-'");
    }
  }
  if (!isLowerAlnum(name.front()) || !isLowerAlnum(name.back())) {
    return prefix + " must start and end with a-z or 0-9";
  }
  return std::nullopt;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;  // past the leading '/'
  while (true) {
    const std::size_t slash = path.find('/', start);
    segments.push_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) return segments;
    start = slash + 1;
  }
}

// Problems anywhere in the URI that would make the segment checks misleading.
std::optional<std::string> uriProblem(std::string_view uri) {
  if (uri.size() > kMaxUriLength) return "longer than 2048 bytes";
  if (!uri.starts_with(kScheme)) {
    const std::size_t colon = uri.find("://");
    const std::string scheme(uri.substr(0, colon == std::string_view::npos ? 0 : colon));
    if (scheme == "SPIFFE" || scheme == "Spiffe") return "the scheme must be lowercase spiffe://";
    return "the scheme must be spiffe://";
  }
  if (uri.find_first_of("?#") != std::string_view::npos)
    return "a query or fragment is not allowed";
  if (uri.find('%') != std::string_view::npos) return "percent-encoding is not allowed";
  return std::nullopt;
}

Result<SpiffeId> parsePath(std::string_view uri, std::string_view path, SpiffeId id) {
  if (path.empty() || path == "/") return spiffeError("path", uri, "the path is missing");
  const std::vector<std::string_view> segments = splitPath(path);
  for (const std::string_view segment : segments) {
    if (segment.empty()) {
      return spiffeError("path", uri, "the path has an empty segment (a trailing or doubled '/')");
    }
  }
  if (segments.size() != 4 || segments[0] != "ns" || segments[2] != "sa") {
    return spiffeError("path", uri,
                       "the path " + quoted(path) + " is not /ns/<namespace>/sa/<service-account>");
  }
  if (auto problem = kubeNameProblem("the namespace", segments[1], false)) {
    return spiffeError("namespace", uri, *problem);
  }
  if (auto problem = kubeNameProblem("the service account", segments[3], true)) {
    return spiffeError("service_account", uri, *problem);
  }
  id.namespace_name = segments[1];
  id.service_account = segments[3];
  return id;
}

bool startsWithSpiffeScheme(std::string_view uri) {
  // Case-insensitive, so "SPIFFE://..." counts as a (malformed) SPIFFE ID and is refused rather
  // than silently ignored next to a valid one.
  constexpr std::string_view kPrefix = "spiffe:";
  if (uri.size() < kPrefix.size()) return false;
  return std::equal(kPrefix.begin(), kPrefix.end(), uri.begin(), [](char a, char b) {
    return a == std::tolower(static_cast<unsigned char>(b));
  });
}

}  // namespace

std::string SpiffeId::uri() const {
  return std::string(kScheme) + trust_domain + "/ns/" + namespace_name + "/sa/" + service_account;
}

Result<SpiffeId> parseSpiffeId(std::string_view uri) {
  if (auto problem = uriProblem(uri)) return spiffeError("syntax", uri, *problem);
  const std::string_view rest = uri.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view domain = rest.substr(0, slash);
  if (auto problem = trustDomainProblem(domain)) return spiffeError("trust_domain", uri, *problem);
  SpiffeId id;
  id.trust_domain = domain;
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  return parsePath(uri, path, std::move(id));
}

std::vector<std::string> uriSans(X509* cert) {
  std::vector<std::string> uris;
  if (cert == nullptr) return uris;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* text = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                      static_cast<std::size_t>(ASN1_STRING_length(text)));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

Result<SpiffeId> peerSpiffeId(X509* leaf, std::string_view trust_domain) {
  if (leaf == nullptr) return peerError("no_certificate", "the peer sent no certificate");
  // EXFLAG_CA is basicConstraints CA:TRUE whatever the keyUsage (X509_check_ca alone says 0 for
  // CA:TRUE with a keyUsage lacking keyCertSign); X509_check_ca adds keyCertSign without
  // basicConstraints and v1 self-signed certificates: anything that could sign others.
  if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 || X509_check_ca(leaf) != 0) {
    return peerError("ca_certificate",
                     "the peer's certificate is a CA certificate (basicConstraints CA:TRUE or "
                     "keyCertSign); a workload certificate must not be able to sign others");
  }
  std::vector<std::string> spiffe;
  for (std::string& uri : uriSans(leaf)) {
    if (startsWithSpiffeScheme(uri)) spiffe.push_back(std::move(uri));
  }
  if (spiffe.empty()) {
    return peerError("no_spiffe_id", "the peer's certificate has no spiffe:// URI SAN");
  }
  if (spiffe.size() > 1) {
    return peerError("multiple_spiffe_ids", "the peer's certificate has " +
                                                std::to_string(spiffe.size()) +
                                                " spiffe:// URI SANs; exactly one is allowed");
  }
  Result<SpiffeId> id = parseSpiffeId(spiffe.front());
  if (!id) return id;
  if (id.value().trust_domain != trust_domain) {
    return peerError("trust_domain", "the peer's SPIFFE ID " + spiffe.front() +
                                         " is in trust domain \"" + id.value().trust_domain +
                                         "\", expected \"" + std::string(trust_domain) + "\"");
  }
  return id;
}

}  // namespace peergate::identity
