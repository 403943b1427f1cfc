#include "peer_identity.h"

#include <string_view>
#include <vector>

#include <openssl/x509v3.h>

namespace peergate::proxy {
namespace {

constexpr std::string_view kScheme = "spiffe://";

std::vector<std::string> spiffeUris(X509* leaf) {
  std::vector<std::string> uris;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                     static_cast<std::size_t>(ASN1_STRING_length(uri)));
    if (text.compare(0, kScheme.size(), kScheme) == 0) uris.push_back(std::move(text));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

// SPIFFE ID spec: the trust domain is lower-case letters, digits, '.', '-', '_'.
bool validTrustDomain(std::string_view domain) {
  if (domain.empty()) return false;
  for (char c : domain) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

// Path segments are non-empty, not "." or "..", of letters, digits, '.', '-', '_'.
bool validPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

std::string_view trustDomainOf(std::string_view id) {
  id.remove_prefix(kScheme.size());
  return id.substr(0, id.find('/'));
}

}  // namespace

std::string soleSpiffeUri(X509* cert) {
  std::vector<std::string> uris = spiffeUris(cert);
  return uris.size() == 1 ? uris.front() : std::string();
}

bool isValidSpiffeId(const std::string& id) {
  if (id.compare(0, kScheme.size(), kScheme) != 0) return false;
  const std::string_view rest = std::string_view(id).substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return false;
  return validTrustDomain(rest.substr(0, slash)) && validPath(rest.substr(slash));
}

LeafIdentity checkLeafIdentity(X509* leaf, const std::string& trust_domain) {
  LeafIdentity identity;
  if (X509_check_ca(leaf) != 0) {
    identity.failure = "ca_leaf";
    return identity;
  }
  std::vector<std::string> uris = spiffeUris(leaf);
  if (uris.empty()) {
    identity.failure = "no_spiffe_id";
  } else if (uris.size() > 1) {
    identity.failure = "multiple_spiffe_ids";
  } else if (!isValidSpiffeId(uris.front())) {
    identity.failure = "invalid_spiffe_id";
  } else if (trustDomainOf(uris.front()) != trust_domain) {
    identity.failure = "wrong_trust_domain";
  } else {
    identity.spiffe_id = std::move(uris.front());
  }
  return identity;
}

}  // namespace peergate::proxy
