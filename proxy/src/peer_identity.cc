#include "peer_identity.h"

#include <string_view>
#include <vector>

#include <openssl/x509v3.h>

#include "peergate/identity/spiffe.h"

namespace peergate::proxy {
namespace {

std::string reasonFor(std::string_view code) {
  if (code == "peer.ca_certificate") return "ca_leaf";
  if (code == "peer.no_spiffe_id") return "no_spiffe_id";
  if (code == "peer.multiple_spiffe_ids") return "multiple_spiffe_ids";
  if (code == "peer.trust_domain") return "wrong_trust_domain";
  if (code == "peer.no_certificate") return "no_client_cert";
  return "invalid_spiffe_id";  // the parser's spiffe.* codes
}

}  // namespace

LeafIdentity checkLeafIdentity(X509* leaf, const std::string& trust_domain) {
  LeafIdentity identity;
  // X509_check_ca (inside peerSpiffeId) calls a CA:TRUE certificate "not a CA" when its keyUsage
  // lacks keyCertSign; basicConstraints CA:TRUE alone must already disqualify a workload leaf.
  if ((X509_get_extension_flags(leaf) & EXFLAG_CA) != 0) {
    identity.failure = "ca_leaf";
    return identity;
  }
  const identity::Result<identity::SpiffeId> id = identity::peerSpiffeId(leaf, trust_domain);
  if (id) {
    identity.spiffe_id = id.value().uri();
  } else {
    identity.failure = reasonFor(id.error().code);
  }
  return identity;
}

std::string soleSpiffeUri(X509* cert) {
  std::vector<std::string> spiffe;
  for (std::string& uri : identity::uriSans(cert)) {
    if (uri.rfind("spiffe://", 0) == 0) spiffe.push_back(std::move(uri));
  }
  return spiffe.size() == 1 ? spiffe.front() : std::string();
}

}  // namespace peergate::proxy
