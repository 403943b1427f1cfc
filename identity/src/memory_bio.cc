#include "memory_bio.h"

#include <limits>

namespace peergate::identity::detail {

BioPtr readBio(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return nullptr;
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

BioPtr writeBio() { return BioPtr(BIO_new(BIO_s_mem())); }

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size > 0 ? size : 0));
}

}  // namespace peergate::identity::detail
