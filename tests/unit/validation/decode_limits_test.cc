// Hostile and broken inputs: the decoder answers with one clear error, never a crash or a hang.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>

#include "peergate/validation/decode.h"

using namespace peergate::validation;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PEERGATE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PEERGATE_TEST_SANITIZED 1
#endif
#endif

namespace {

DecodeOutcome decode(std::string_view text, Inputs& inputs, const DecodeLimits& limits = {}) {
  return decodeInto(text, "in", inputs, limits);
}

std::string repeat(std::string_view piece, std::size_t times) {
  std::string out;
  out.reserve(piece.size() * times);
  for (std::size_t i = 0; i < times; ++i) out += piece;
  return out;
}

// Deterministic noise (xorshift64), fast even in unoptimized builds. With `lowest` 128 every
// byte is >= 0x80: no NUL, and not UTF-8.
std::string randomBytes(std::size_t size, std::uint64_t seed, unsigned char lowest = 0) {
  std::string out(size, '\0');
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i < size; i += 8) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    for (std::size_t k = 0; k < 8 && i + k < size; ++k) {
      out[i + k] = static_cast<char>(static_cast<unsigned char>(state >> (8 * k)) | lowest);
    }
  }
  return out;
}

// A `kubectl get pods -o json`-like List of `count` pods, about 500 bytes each.
std::string podList(std::size_t count) {
  std::string out = "{\n\"apiVersion\": \"v1\",\n\"items\": [\n";
  out.reserve(count * 520 + 100);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string n = std::to_string(i);
    if (i > 0) out += ",\n";
    out +=
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-)" + n +
        R"(","namespace":"ns-)" + std::to_string(i % 100) + R"(","uid":"00000000-0000-4000-8000-)" +
        n + R"(","labels":{"app":"app-)" + std::to_string(i % 1000) +
        R"(","pod-template-hash":"5f6d7c8b9"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-03-01T10:00:00Z"}},)"
        R"("spec":{"serviceAccountName":"sa","containers":[{"name":"app","image":"registry.example/app:1.2.3",)"
        R"("ports":[{"containerPort":8080,"name":"http","protocol":"TCP"}],)"
        R"("readinessProbe":{"httpGet":{"path":"/ready","port":"http"}}}]},)"
        R"("status":{"phase":"Running","podIP":"10.0.)" +
        std::to_string(i % 250) + "." + std::to_string(i % 200) + R"("}})";
  }
  out += "\n],\n\"kind\": \"List\",\n\"metadata\": {\"resourceVersion\": \"\"}\n}\n";
  return out;
}

}  // namespace

TEST_CASE("truncated YAML is one syntax error with its line", "[decode]") {
  using Row = std::tuple<std::string, int>;
  auto [text, line] = GENERATE(table<std::string, int>({
      Row{"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [a, b\n", 5},
      // yaml-cpp closes a quoted scalar left open at the end of the text; not at a `---`.
      Row{"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"unterminated\n---\nkind: x\n", 5},
      Row{"apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n", 4},
      Row{"apiVersion: v1\n  kind: Namespace\n", 2},
  }));
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "yaml.syntax");
  CHECK(outcome.errors[0].line == line);
  CHECK_THAT(outcome.errors[0].message, Catch::StartsWith("invalid YAML at column "));
  CHECK(inputs.namespaces.empty());
}

TEST_CASE("a token yaml-cpp cannot start a document with is an error, not an endless stream",
          "[decode]") {
  const std::string text = GENERATE(",", "kind: Namespace\nmetadata: {name: a}\n---\n,\n", ", x");
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "yaml.syntax");
  CHECK_THAT(outcome.errors[0].message, Catch::Contains("unexpected \",\""));
}

TEST_CASE("documents before a YAML syntax error still load", "[decode]") {
  Inputs inputs;
  const auto outcome =
      decode("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nkind: [\n", inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].document == 1);
  CHECK(inputs.namespaces.size() == 1);
}

TEST_CASE("unterminated or malformed JSON is one syntax error with line and column", "[decode]") {
  using Row = std::tuple<std::string, int, std::string>;
  auto [text, line, detail] = GENERATE(table<std::string, int, std::string>({
      Row{"{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": "
          "\"a\"",
          4, "unexpected end of input"},
      Row{"{\"kind\": \"Namespace\",\n \"metadata\": {\"name\": \"a\",}}", 2,
          "syntax error while parsing object key"},
      Row{"{\"kind\": \"Namespace\"}\n{\"kind\": \"Namespace\"}", 2, "expected end of input"},
      Row{"[\n{\"kind\": \"Nam", 2, "missing closing quote"},
      Row{"{\"kind\": 1e99999}", 1, "number overflow"},
  }));
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "json.syntax");
  CHECK(outcome.errors[0].line == line);
  CHECK_THAT(outcome.errors[0].message, Catch::StartsWith("invalid JSON at column "));
  CHECK_THAT(outcome.errors[0].message, Catch::Contains(detail));
  CHECK(inputs.namespaces.empty());
}

TEST_CASE("a 50 MB List decodes item by item", "[decode]") {
#if defined(__OPTIMIZE__) && !defined(PEERGATE_TEST_SANITIZED)
  constexpr std::size_t kPods = 100'000;  // 53 MB
#else
  // nlohmann's parser is about ten times slower at -O0 or under ASan: the dev and asan presets
  // read a tenth of it (5 MB) to stay within a couple of seconds, the release preset all 50 MB.
  constexpr std::size_t kPods = 10'000;
#endif
  const std::string text = podList(kPods);
  REQUIRE(text.size() > kPods * 500);
  Inputs inputs;
  const auto started = std::chrono::steady_clock::now();
  const auto outcome = decode(text, inputs);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  UNSCOPED_INFO("decoded " << text.size() << " bytes in "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                           << " ms");
  REQUIRE(outcome.ok());
  CHECK(outcome.objects == static_cast<int>(kPods));
  REQUIRE(inputs.workloads.size() == kPods);
  const Workload& last = inputs.workloads.back();
  CHECK(last.meta.name == "pod-" + std::to_string(kPods - 1));
  CHECK(last.meta.source.document == static_cast<int>(kPods - 1));
  CHECK(last.meta.source.line == static_cast<int>(kPods + 3));
  CHECK(last.spec.probes.at(0).port == 8080);
  CHECK(last.pod_ips == std::vector<std::string>{"10.0." + std::to_string((kPods - 1) % 250) + "." +
                                                 std::to_string((kPods - 1) % 200)});
}

TEST_CASE("a 50 MB garbage blob is one error, found at once", "[decode]") {
  using Row = std::tuple<unsigned char, std::string>;
  auto [lowest, code] = GENERATE(table<unsigned char, std::string>({
      Row{0, "input.binary"},      // random bytes: NULs among them
      Row{128, "input.encoding"},  // no NUL, but not UTF-8
  }));
  const std::string text = "apiVersion: v1\n" + randomBytes(50'000'000, 7, lowest);
  const std::size_t first_nul = text.find('\0');
  const int expected_line =
      lowest == 0
          ? 1 + static_cast<int>(std::count(
                    text.begin(), text.begin() + static_cast<std::ptrdiff_t>(first_nul), '\n'))
          : 2;
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == code);
  CHECK(outcome.errors[0].line == expected_line);
}

TEST_CASE("deep nesting stops at the depth limit", "[decode]") {
  constexpr std::size_t kDepth = 10'000;
  using Row = std::tuple<std::string, std::string>;
  auto [shape, text] =
      GENERATE_COPY(
          table<std::string, std::string>(
              {
                  Row{"YAML flow sequences", repeat("[", kDepth) + repeat("]", kDepth)},
                  Row{"YAML flow maps",
                      "kind: " + repeat("{a: ", kDepth) + "x" + repeat("}", kDepth)},
                  Row{"YAML block sequences", repeat("- ", kDepth) + "x\n"},
                  Row{"YAML block maps",
                      "kind: Pod\nspec:\n" +
                          [] {
                            std::string out;
                            for (std::size_t i = 1; i < 200; ++i)
                              out += std::string(i, ' ') + "a:\n";
                            return out;
                          }()},
                  Row{"JSON arrays", repeat("[", kDepth) + repeat("]", kDepth)},
                  Row{"JSON objects", repeat("{\"a\":", kDepth) + "1" + repeat("}", kDepth)},
                  Row{"an unterminated JSON array", repeat("[", kDepth)},
              }));
  CAPTURE(shape);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "limit.depth");
  CHECK_THAT(outcome.errors[0].message, Catch::Contains("deeper than 128 levels"));
}

TEST_CASE("binary garbage with NULs is refused with the line of the first NUL", "[decode]") {
  std::string text = "apiVersion: v1\nkind: Namespace\n";
  text += std::string(
      "\x7f"
      "ELF\x02\x01\x01\0\0\0",
      10);
  text += randomBytes(4096, 1);
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "input.binary");
  CHECK(outcome.errors[0].line == 3);
  CHECK(outcome.errors[0].document == -1);  // about the input, not one of its documents
  CHECK(outcome.errors[0].message ==
        "the input contains a NUL byte (column 8): it is binary data, not YAML or JSON text");
}

TEST_CASE("text that is not UTF-8 is refused before parsing", "[decode]") {
  using Row = std::tuple<std::string, std::string, int>;
  auto [text, code, line] = GENERATE(table<std::string, std::string, int>({
      Row{std::string("\xFF\xFE"
                      "a\0:\0 \0b\0",
                      10),
          "input.encoding", 1},
      Row{std::string("\xFF\xFE\0\0a\0\0\0", 8), "input.encoding", 1},
      Row{"kind: Namespace\nmetadata: {name: \xC0\xAF}\n", "input.encoding", 2},
      Row{"kind: Namespace\n\nname: \xED\xA0\x80\n", "input.encoding", 3},
      Row{"kind: \xE2\x82", "input.encoding", 1},
      Row{"{\"kind\": \"\xF5\x80\x80\x80\"}", "input.encoding", 1},
  }));
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == code);
  CHECK(outcome.errors[0].line == line);
}

TEST_CASE("UTF-8 text with a byte order mark and non-ASCII values decodes", "[decode]") {
  Inputs inputs;
  const auto outcome = decode(
      "\xEF\xBB\xBF"
      "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
      "  annotations: {owner: \"J\xC3\xBCrgen \xF0\x9F\x9A\x80\"}\n",
      inputs);
  REQUIRE(outcome.ok());
  REQUIRE(inputs.namespaces.size() == 1);
  CHECK(inputs.namespaces[0].meta.annotations.at("owner") == "J\xC3\xBCrgen \xF0\x9F\x9A\x80");
}

TEST_CASE("a huge scalar decodes", "[decode]") {
  const std::string value(4'000'000, 'x');
  const std::string format = GENERATE("yaml", "json");
  const std::string text =
      format == "yaml"
          ? "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  annotations:\n    big: " +
                value + "\n"
          : R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a","annotations":{"big":")" +
                value + "\"}}}";
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.ok());
  REQUIRE(inputs.namespaces.size() == 1);
  CHECK(inputs.namespaces[0].meta.annotations.at("big").size() == value.size());
}

TEST_CASE("input over max_bytes is refused before parsing", "[decode]") {
  DecodeLimits limits;
  limits.max_bytes = 64;
  const std::string text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n# pad pad pad\n";
  REQUIRE(text.size() > limits.max_bytes);
  Inputs inputs;
  const auto outcome = decode(text, inputs, limits);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "limit.size");
  CHECK(outcome.errors[0].describe() ==
        "in: the input is " + std::to_string(text.size()) +
            " bytes, more than the limit of 64 bytes; split it into several files");
  CHECK(outcome.errors[0].message ==
        "the input is " + std::to_string(text.size()) +
            " bytes, more than the limit of 64 bytes; split it into several files");
  CHECK(inputs.namespaces.empty());

  limits.max_bytes = text.size();
  CHECK(decode(text, inputs, limits).ok());
}

TEST_CASE("max_documents bounds YAML documents and List items together", "[decode]") {
  DecodeLimits limits;
  limits.max_documents = 3;
  const std::string ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
  using Row = std::tuple<std::string, bool>;
  auto [text, ok] = GENERATE_COPY(table<std::string, bool>({
      Row{ns + "---\n" + ns + "---\n" + ns, true},
      Row{ns + "---\n" + ns + "---\n" + ns + "---\n" + ns, false},
      Row{"kind: List\nitems:\n- {kind: Namespace, metadata: {name: a}}\n"
          "- {kind: Namespace, metadata: {name: b}}\n",
          true},
      Row{"kind: List\nitems:\n- {kind: Namespace, metadata: {name: a}}\n"
          "- {kind: Namespace, metadata: {name: b}}\n- {kind: Namespace, metadata: {name: c}}\n",
          false},
  }));
  CAPTURE(text);
  Inputs inputs;
  const auto outcome = decode(text, inputs, limits);
  CHECK(outcome.ok() == ok);
  if (!ok) {
    REQUIRE(outcome.errors.size() == 1);
    CHECK(outcome.errors[0].code == "limit.documents");
  }
}

TEST_CASE("aliases cannot expand without bound", "[decode]") {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    const std::string previous = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" +
            repeat(previous + ", ", 9) + previous + "]\n";
  }
  Inputs inputs;
  const auto outcome = decode(text, inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "limit.aliases");
}

TEST_CASE("an alias inside the node it names is an error", "[decode]") {
  Inputs inputs;
  const auto outcome = decode("kind: Namespace\nmetadata: &m {name: a, self: *m}\n", inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "yaml.alias");
  CHECK(outcome.errors[0].line == 2);
}

TEST_CASE("a map key that is itself a map is an error", "[decode]") {
  Inputs inputs;
  const auto outcome = decode("kind: Namespace\n? {a: b}\n: c\nmetadata: {name: a}\n", inputs);
  REQUIRE(outcome.errors.size() == 1);
  CHECK(outcome.errors[0].code == "yaml.key");
  CHECK(inputs.namespaces.empty());
}

TEST_CASE("mutated manifests never crash the decoder", "[decode]") {
  const std::string seed = R"(apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p, namespace: foo, labels: {a: b}}
spec:
  selector: {matchLabels: {app: x}}
  mtls: {mode: STRICT}
  portLevelMtls: {8080: {mode: DISABLE}}
---
{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Namespace", "metadata": {"name": "x"}}]}
)";
  std::mt19937 random(42);
  const std::string alphabet = "{}[]:,-&*!|>'\"#\n \t?%@`0aZ\\";
  for (int round = 0; round < 2000; ++round) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % text.size();
      switch (random() % 3) {
        case 0:
          text[at] = alphabet[random() % alphabet.size()];
          break;
        case 1:
          text.erase(at, 1 + random() % 8);
          break;
        default:
          text.insert(at, 1, alphabet[random() % alphabet.size()]);
          break;
      }
    }
    Inputs inputs;
    const auto outcome = decode(text, inputs);
    for (const Error& error : outcome.errors) {
      CAPTURE(text, error.describe());
      REQUIRE_FALSE(error.code.empty());
      REQUIRE_FALSE(error.message.empty());
    }
  }
}
