#pragma once

// Kubernetes name and label syntax (k8s.io/apimachinery/pkg/util/validation), with Kubernetes'
// own wording. Each check returns every rule the text breaks; an empty vector means valid.
// Private to the validation component.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace peergate::validation {

inline constexpr std::size_t kDns1123LabelMaxLength = 63;
inline constexpr std::size_t kDns1123SubdomainMaxLength = 253;
inline constexpr std::size_t kQualifiedNameMaxLength = 63;
inline constexpr std::size_t kLabelValueMaxLength = 63;

// metadata.namespace, and the name of a Namespace: at most 63 of [a-z0-9-], alphanumeric ends.
std::vector<std::string> dns1123LabelErrors(std::string_view text);

// metadata.name of most kinds: at most 253, dot-separated DNS-1123 labels.
std::vector<std::string> dns1123SubdomainErrors(std::string_view text);

// A label key: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 of
// [A-Za-z0-9-_.] that starts and ends alphanumeric.
std::vector<std::string> qualifiedNameErrors(std::string_view text);

// A label value: empty, or at most 63 of [A-Za-z0-9-_.] that starts and ends alphanumeric.
std::vector<std::string> labelValueErrors(std::string_view text);

// Number of Unicode code points in UTF-8 text (invalid bytes count one each), which is how
// OpenAPI maxLength counts.
std::size_t codePointCount(std::string_view text);

// Go's %q (strconv.Quote) of `text`: double-quoted, with '"' and '\\' escaped, \a \b \f \n \r
// \t \v for those controls, \xNN for other control bytes and invalid UTF-8, \u00NN for C1
// controls. Other code points are kept as they are.
std::string goQuote(std::string_view text);

}  // namespace peergate::validation
