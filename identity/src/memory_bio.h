#pragma once

// PEM texts in and out of OpenSSL through memory BIOs. Private to identity/.

#include <memory>
#include <string>
#include <string_view>

#include <openssl/bio.h>

namespace peergate::identity::detail {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// A read-only BIO over `text` (which must outlive it); null when `text` is too large for an int.
BioPtr readBio(std::string_view text);
BioPtr writeBio();
// Everything written to a writeBio().
std::string bioText(BIO* bio);

}  // namespace peergate::identity::detail
