#include "peergate/identity/issuer.h"

#include <algorithm>
#include <memory>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cert_builder.h"
#include "openssl_error.h"

namespace peergate::identity {
namespace {

using detail::AltName;
using detail::failure;

constexpr std::size_t kMaxDnsName = 253;
constexpr std::size_t kMaxDnsLabel = 63;
constexpr std::size_t kMaxCommonName = 64;  // ub-common-name, RFC 5280

struct LeafProfile {
  std::string common_name;  // "" for an empty subject
  std::vector<AltName> names;
  const char* extended_key_usage;
};

Result<detail::ValidityWindow> leafWindow(X509* ca, const IssueOptions& options) {
  if (options.ttl <= std::chrono::seconds::zero()) {
    return failure("issue.ttl", "the certificate's lifetime must be positive");
  }
  const Validity ca_validity = validityOf(ca);
  if (options.now >= ca_validity.not_after) {
    return failure("issue.ca_expired", "the CA expired at " + isoTime(ca_validity.not_after) +
                                           "; create a new CA and distribute its ca.pem");
  }
  if (options.now < ca_validity.not_before) {
    return failure("issue.ca_not_yet_valid", "the CA is valid only from " +
                                                 isoTime(ca_validity.not_before) +
                                                 "; check this machine's clock");
  }
  // Never outlive the CA: a verifier rejects a chain as soon as the root has expired anyway, and
  // a leaf that claims otherwise only hides when rotation is really due.
  return detail::ValidityWindow{std::max(options.now - kClockSkewAllowance, ca_validity.not_before),
                                std::min(options.now + options.ttl, ca_validity.not_after)};
}

// keyEncipherment only means something for RSA (TLS 1.2 RSA key exchange); RFC 5480 does not
// allow it for ECDSA keys, and strict verifiers may refuse it there.
std::string keyUsageFor(EVP_PKEY* subject_key) {
  return EVP_PKEY_is_a(subject_key, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                           : "critical,digitalSignature";
}

Result<Done> addLeafExtensions(X509* cert, X509* ca, EVP_PKEY* subject_key,
                               const LeafProfile& profile) {
  const std::pair<int, std::string> extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},    {NID_key_usage, keyUsageFor(subject_key)},
      {NID_ext_key_usage, profile.extended_key_usage}, {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
  };
  for (const auto& [nid, value] : extensions) {
    Result<Done> added = detail::addExtension(cert, ca, nid, value);
    if (!added) return added;
  }
  // RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical.
  return detail::addSubjectAltNames(cert, profile.names, profile.common_name.empty());
}

Result<CertPtr> issueLeaf(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                          const LeafProfile& profile, const IssueOptions& options) {
  Result<Done> acceptable = checkAcceptableKey(subject_key);
  if (!acceptable) return acceptable.error();
  Result<detail::ValidityWindow> window = leafWindow(ca.cert.get(), options);
  if (!window) return window.error();
  Result<CertPtr> cert = detail::newCertificate(subject_key, window.value());
  if (!cert) return cert;
  X509* raw = cert.value().get();
  Result<Done> step = Done{};
  if (!profile.common_name.empty()) step = detail::addSubjectEntry(raw, "CN", profile.common_name);
  if (step) step = addLeafExtensions(raw, ca.cert.get(), subject_key, profile);
  if (step) step = detail::signCertificate(raw, ca.cert.get(), ca.key.get());
  if (!step) return step.error();
  return cert;
}

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::optional<std::string> labelProblem(std::string_view label, bool first) {
  if (label.empty()) return "has an empty label (a leading, trailing or doubled '.')";
  if (label == "*" && first) return std::nullopt;
  if (label.size() > kMaxDnsLabel) return "has a label longer than 63 characters";
  for (const char c : label) {
    if (!isAlnum(c) && c != '-') {
      return std::string("has '") + c + "'; a DNS name allows a-z, 0-9, '-' and '.'";
    }
  }
  if (label.front() == '-' || label.back() == '-')
    return "has a label that starts or ends with '-'";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> dnsNameProblem(std::string_view name) {
  const std::string quoted = "DNS name \"" + std::string(name) + "\" ";
  if (name.empty()) return "a DNS name is empty";
  if (name.size() > kMaxDnsName) return quoted + "is longer than 253 characters";
  if (!ipAddressProblem(name)) return quoted + "is an IP address; pass it as an IP address";
  if (name == "*" || (name.starts_with("*.") && name.find('.', 2) == std::string_view::npos)) {
    return quoted + "is a wildcard for a whole top-level domain";
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    if (auto problem = labelProblem(name.substr(start, dot - start), start == 0)) {
      return quoted + *problem;
    }
    if (dot == std::string_view::npos) return std::nullopt;
    start = dot + 1;
  }
}

std::optional<std::string> ipAddressProblem(std::string_view address) {
  const std::string text(address);
  ASN1_OCTET_STRING* parsed =
      text.find('\0') == std::string::npos ? a2i_IPADDRESS(text.c_str()) : nullptr;
  ERR_clear_error();
  if (parsed == nullptr) return "\"" + text + "\" is not an IPv4 or IPv6 address";
  ASN1_OCTET_STRING_free(parsed);
  return std::nullopt;
}

Result<CertPtr> issueWorkloadCert(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                                  const SpiffeId& id, const IssueOptions& options) {
  // Re-validated here so a hand-built SpiffeId cannot put an arbitrary URI in a certificate.
  Result<SpiffeId> checked = parseSpiffeId(id.uri());
  if (!checked) return checked.error();
  const LeafProfile profile{"", {{GEN_URI, id.uri()}}, "serverAuth,clientAuth"};
  return issueLeaf(ca, subject_key, profile, options);
}

Result<CertPtr> issueServingCert(const CertificateAuthority& ca, EVP_PKEY* subject_key,
                                 const ServingNames& names, const IssueOptions& options) {
  if (names.dns.empty() && names.ips.empty()) {
    return failure("serving.names", "a serving certificate needs at least one DNS name or IP");
  }
  LeafProfile profile{"", {}, "serverAuth"};
  for (const std::string& dns : names.dns) {
    if (auto problem = dnsNameProblem(dns)) return failure("serving.dns_name", *problem);
    profile.names.push_back({GEN_DNS, dns});
  }
  for (const std::string& ip : names.ips) {
    if (auto problem = ipAddressProblem(ip)) return failure("serving.ip_address", *problem);
    profile.names.push_back({GEN_IPADD, ip});
  }
  // Clients match the SAN; the CN is for people reading logs (and only when it fits).
  const std::string& first = profile.names.front().value;
  if (first.size() <= kMaxCommonName) profile.common_name = first;
  return issueLeaf(ca, subject_key, profile, options);
}

}  // namespace peergate::identity
