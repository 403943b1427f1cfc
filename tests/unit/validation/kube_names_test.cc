// Tests of the Kubernetes name and label syntax helpers (k8s.io/apimachinery util/validation)
// and of Go's %q quoting used in Istio's messages.

#include "../../../validation/src/kube_names.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace peergate::validation {
namespace {

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& error : errors) out += (out.empty() ? "" : " | ") + error;
  return out;
}

TEST_CASE("accepts DNS-1123 labels and rejects everything else", "[validate][kube_names]") {
  const auto [text, valid] = GENERATE(table<std::string, bool>({
      {"a", true},
      {"0", true},
      {"istio-system", true},
      {"123-abc", true},
      {std::string(63, 'a'), true},
      {std::string(64, 'a'), false},
      {"", false},
      {"A", false},
      {"a.b", false},
      {"a_b", false},
      {"-a", false},
      {"a-", false},
      {"a b", false},
  }));
  CAPTURE(text);
  CHECK(dns1123LabelErrors(text).empty() == valid);
}

TEST_CASE("words DNS-1123 label errors as Kubernetes does", "[validate][kube_names]") {
  CHECK(joined(dns1123LabelErrors("Bad")) ==
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  CHECK(joined(dns1123LabelErrors(std::string(64, 'a'))) == "must be no more than 63 characters");
}

TEST_CASE("accepts DNS-1123 subdomains and rejects everything else", "[validate][kube_names]") {
  const auto [text, valid] = GENERATE(table<std::string, bool>({
      {"a", true},
      {"example.com", true},
      {"a-b.c-d.e", true},
      {"0.1", true},
      {std::string(253, 'a'), true},
      {std::string(63, 'a') + "." + std::string(63, 'b'), true},
      {std::string(254, 'a'), false},
      {"", false},
      {"Example.com", false},
      {"a..b", false},
      {".a", false},
      {"a.", false},
      {"a.-b", false},
      {"a-.b", false},
      {"a_b", false},
      {"a/b", false},
  }));
  CAPTURE(text);
  CHECK(dns1123SubdomainErrors(text).empty() == valid);
}

TEST_CASE("words DNS-1123 subdomain errors as Kubernetes does", "[validate][kube_names]") {
  CHECK(joined(dns1123SubdomainErrors(std::string(254, 'A'))) ==
        "must be no more than 253 characters | a lowercase RFC 1123 subdomain must consist of "
        "lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
}

TEST_CASE("checks label keys as Kubernetes qualified names", "[validate][kube_names]") {
  const auto [text, errors] = GENERATE(table<std::string, std::string>({
      {"app", ""},
      {"App_1.x-Y", ""},
      {"app.kubernetes.io/name", ""},
      {"security.istio.io/tlsMode", ""},
      {std::string(253, 'p') + "/" + std::string(63, 'n'), ""},
      {"", "name part must be non-empty"},
      {"app/", "name part must be non-empty"},
      {"/app", "prefix part must be non-empty"},
      {std::string(64, 'n'), "name part must be no more than 63 characters"},
      {std::string(254, 'p') + "/n", "prefix part must be no more than 253 characters"},
      {"-app",
       "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
       "end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex "
       "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"},
      {"Istio.io/app",
       "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
       "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
       "'example.com', regex used for validation is "
       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"},
      {"a/b/c",
       "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
       "start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or "
       "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
       "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"},
  }));
  CAPTURE(text);
  CHECK(joined(qualifiedNameErrors(text)) == errors);
}

TEST_CASE("checks label values as Kubernetes does", "[validate][kube_names]") {
  const auto [text, valid] = GENERATE(table<std::string, bool>({
      {"", true},
      {"httpbin", true},
      {"v1.2_3-rc", true},
      {"A", true},
      {std::string(63, 'v'), true},
      {std::string(64, 'v'), false},
      {"-v", false},
      {"v-", false},
      {"_v", false},
      {"a b", false},
      {"a/b", false},
      {"a*", false},
      {"caf\xc3\xa9", false},
  }));
  CAPTURE(text);
  CHECK(labelValueErrors(text).empty() == valid);
}

TEST_CASE("counts code points the way OpenAPI maxLength does", "[validate][kube_names]") {
  const auto [text, count] = GENERATE(table<std::string, std::size_t>({
      {"", 0},
      {"abc", 3},
      {"caf\xc3\xa9", 4},
      {"\xe2\x82\xac", 1},
      {"\xf0\x9f\x98\x80", 1},
      {"\xff\xfe", 2},
      {"a\xc3", 2},
  }));
  CAPTURE(text);
  CHECK(codePointCount(text) == count);
}

TEST_CASE("quotes text as Go's %q does", "[validate][kube_names]") {
  const auto [text, quoted] = GENERATE(table<std::string, std::string>({
      {"", R"("")"},
      {"=v1", R"("=v1")"},
      {"app=httpbin-*", R"("app=httpbin-*")"},
      {R"(a"b)", R"("a\"b")"},
      {R"(a\b)", R"("a\\b")"},
      {"tab\there", R"("tab\there")"},
      {"line\nbreak\r", R"("line\nbreak\r")"},
      {std::string("nul\0x", 5), R"("nul\x00x")"},
      {"\x7f", R"("\x7f")"},
      {"\x1b[0m", R"("\x1b[0m")"},
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
      {"\xc2\x85", R"("\u0085")"},
      {"bad\xff", R"("bad\xff")"},
      {"\xc0\xaf", R"("\xc0\xaf")"},
  }));
  CAPTURE(text);
  CHECK(goQuote(text) == quoted);
}

}  // namespace
}  // namespace peergate::validation
