#include "peer_identity.h"

#include <string_view>
#include <vector>

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
