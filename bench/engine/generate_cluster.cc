// Synthetic cluster generator for the engine benchmark (bench/README.md).
//
// Writes one `kubectl get namespaces,pods,services,peerauthentications,destinationrules -A -o
// json`-style List: Namespaces, Pods as a live cluster returns them, Services,
// PeerAuthentications (security.istio.io) and DestinationRules (networking.istio.io). The
// output is a pure function of the flags (own PRNG, fixed epoch), so two runs with the same
// seed are byte-identical. The text is streamed through a small buffered writer; nothing
// holds the document in memory, so generation costs about as much as writing the bytes.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace peergate::bench {
namespace {

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: splitmix64, independent of the standard library's distributions.

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound); bound > 0.
  uint64_t below(uint64_t bound) { return next() % bound; }
  int64_t between(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }
  // True with the given probability in percent.
  bool percent(uint64_t p) { return below(100) < p; }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Streaming JSON writer producing the layout of Go's json.MarshalIndent with four spaces, which
// is what `kubectl get -o json` prints.

class JsonWriter {
 public:
  explicit JsonWriter(std::FILE* out) : out_(out) { buf_.reserve(kFlushAt + 4096); }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }

  void key(std::string_view name) {
    separate();
    quoted(name);
    buf_ += ": ";
    after_key_ = true;
  }
  void str(std::string_view text) {
    separate();
    quoted(text);
    maybeFlush();
  }
  void num(int64_t value) {
    separate();
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    buf_.append(digits, static_cast<std::size_t>(end - digits));
    (void)ec;
  }
  void boolean(bool value) {
    separate();
    buf_ += value ? "true" : "false";
  }
  void null() {
    separate();
    buf_ += "null";
  }

  // Shorthands for "key": value.
  void field(std::string_view name, std::string_view text) { key(name), str(text); }
  void field(std::string_view name, const char* text) { key(name), str(text); }
  void field(std::string_view name, const std::string& text) { key(name), str(text); }
  void field(std::string_view name, int64_t value) { key(name), num(value); }
  void field(std::string_view name, int value) { key(name), num(value); }
  void fieldBool(std::string_view name, bool value) { key(name), boolean(value); }
  void objectField(std::string_view name) { key(name), beginObject(); }
  void arrayField(std::string_view name) { key(name), beginArray(); }

  // Finishes the document; returns false when a write failed.
  bool finish() {
    buf_ += '\n';
    flush();
    return !failed_ && std::fflush(out_) == 0;
  }
  uint64_t bytesWritten() const { return written_ + buf_.size(); }

 private:
  static constexpr std::size_t kFlushAt = std::size_t{1} << 20;

  void open(char bracket) {
    separate();
    buf_ += bracket;
    counts_.push_back(0);
  }
  void close(char bracket) {
    const int count = counts_.back();
    counts_.pop_back();
    if (count > 0) newline();
    buf_ += bracket;
    maybeFlush();
  }
  // Before any value or key: a comma after the previous sibling, then newline and indent.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (counts_.empty()) return;
    if (counts_.back()++ > 0) buf_ += ',';
    newline();
  }
  void newline() {
    buf_ += '\n';
    buf_.append(counts_.size() * 4, ' ');
  }
  void quoted(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    buf_ += '"';
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      switch (c) {
        case '"':
          buf_ += "\\\"";
          break;
        case '\\':
          buf_ += "\\\\";
          break;
        case '\n':
          buf_ += "\\n";
          break;
        case '\r':
          buf_ += "\\r";
          break;
        case '\t':
          buf_ += "\\t";
          break;
        default:
          // Go's encoder also escapes <, > and & for HTML safety; kubectl output shows
          // "\u0026" in annotations, so we do the same.
          if (byte < 0x20 || c == '<' || c == '>' || c == '&') {
            buf_ += "\\u00";
            buf_ += kHex[byte >> 4];
            buf_ += kHex[byte & 0xF];
          } else {
            buf_ += c;
          }
      }
    }
    buf_ += '"';
  }
  void maybeFlush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) {
      failed_ = true;
    }
    written_ += buf_.size();
    buf_.clear();
  }

  std::FILE* out_;
  std::string buf_;
  std::vector<int> counts_;  // children written so far, per open container
  bool after_key_ = false;
  bool failed_ = false;
  uint64_t written_ = 0;
};

// ---------------------------------------------------------------------------------------------
// The cluster model: generated up front (small), then streamed out kind by kind.

enum class Dataplane { None, Sidecar, SidecarRevision, Ambient };

struct NamespaceSpec {
  std::string name;
  Dataplane dataplane = Dataplane::None;
  bool system = false;
  int64_t created = 0;  // seconds since the epoch
  std::string uid;
  std::vector<int> apps;  // indexes into Cluster::apps
};

struct AppSpec {
  std::string name;
  int ns = 0;
  int replicas = 1;
  std::string version;
  std::string rs_hash;    // pod-template-hash
  std::string rs_uid;     // the owning ReplicaSet's uid
  std::string port_name;  // container port name: "http", "grpc", "http-web"
  int64_t port = 8080;    // container port
  bool metrics_port = false;
  bool named_target = false;  // Service targetPort given by name
  bool has_service = true;
  bool opt_out = false;           // sidecar.istio.io/inject: "false"
  bool keep_probes = false;       // sidecar.istio.io/rewriteAppHTTPProbers: "false"
  bool log_shipper = false;       // second app container without ports
  bool liveness = false;          // has a livenessProbe besides the readinessProbe
  bool named_probe_port = false;  // readinessProbe names the port instead of numbering it
  int64_t created = 0;
  std::string image;
  std::string service_account;
};

struct Options {
  int64_t namespaces = 10000;
  int64_t pods = 100000;
  int64_t policies = 20000;
  int64_t destination_rules = 5000;
  uint64_t seed = 1;
  std::string out;
};

struct Counts {
  int64_t namespaces = 0, pods = 0, services = 0, policies = 0, destination_rules = 0;
};

constexpr int64_t kEpoch = 1704067200;                                     // 2024-01-01T00:00:00Z
constexpr std::string_view kSafeAlphabet = "bcdfghjklmnpqrstvwxz2456789";  // Kubernetes'
constexpr std::string_view kWords[] = {
    "checkout",  "cart",     "catalog",  "frontend", "payments", "orders",  "inventory",
    "shipping",  "auth",     "accounts", "search",   "reviews",  "ratings", "details",
    "httpbin",   "curl",     "gateway",  "notifier", "billing",  "ledger",  "pricing",
    "profile",   "sessions", "media",    "thumbs",   "reports",  "export",  "importer",
    "scheduler", "worker",   "queue",    "cache",    "metrics",  "audit",   "geo",
    "recommend", "ads",      "loyalty",  "invoices", "tax",      "fraud",   "kyc"};
constexpr std::string_view kTeams[] = {"retail", "payments", "platform",  "data",  "growth",
                                       "risk",   "identity", "logistics", "media", "search",
                                       "mobile", "partner",  "finance",   "ops",   "ml"};
constexpr std::string_view kEnvs[] = {"prod", "staging", "dev", "qa", "sandbox"};

std::string randomToken(Rng& rng, std::size_t length) {
  std::string out(length, 'x');
  for (char& c : out) c = kSafeAlphabet[rng.below(kSafeAlphabet.size())];
  return out;
}

std::string uuid(Rng& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t hi = rng.next();
  const uint64_t lo = rng.next();
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    const uint64_t word = i < 16 ? hi : lo;
    const int shift = 60 - 4 * (i % 16);
    unsigned nibble = static_cast<unsigned>((word >> shift) & 0xF);
    if (i == 12) nibble = 4;                   // version 4
    if (i == 16) nibble = 8 | (nibble & 0x3);  // RFC 4122 variant
    out += kHex[nibble];
    if (i == 7 || i == 11 || i == 15 || i == 19) out += '-';
  }
  return out;
}

std::string timestamp(int64_t seconds) {
  using namespace std::chrono;
  const sys_seconds point{std::chrono::seconds{seconds}};
  const sys_days day = floor<days>(point);
  const year_month_day ymd{day};
  const hh_mm_ss hms{point - day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return text;
}

std::string ipv4(int a, int64_t counter) {
  return std::to_string(a) + '.' + std::to_string((counter >> 16) & 255) + '.' +
         std::to_string((counter >> 8) & 255) + '.' + std::to_string(counter & 255);
}

class Cluster {
 public:
  Cluster(const Options& options) : options_(options), rng_(options.seed) {
    buildNamespaces();
    buildApps();
  }

  Counts write(JsonWriter& w) {
    w.beginObject();
    w.field("apiVersion", "v1");
    w.arrayField("items");
    for (const auto& ns : namespaces_) writeNamespace(w, ns);
    int64_t pod_counter = 0;
    for (const auto& app : apps_) {
      for (int r = 0; r < app.replicas; ++r) writePod(w, app, pod_counter++);
    }
    for (const auto& app : apps_) {
      if (app.has_service) writeService(w, app);
    }
    writePolicies(w);
    writeDestinationRules(w);
    w.endArray();
    w.field("kind", "List");
    w.objectField("metadata");
    w.field("resourceVersion", "");
    w.endObject();
    w.endObject();
    counts_.namespaces = static_cast<int64_t>(namespaces_.size());
    counts_.pods = pod_counter;
    return counts_;
  }

 private:
  // --- model -----------------------------------------------------------------------------------

  void buildNamespaces() {
    const int64_t total = std::max<int64_t>(options_.namespaces, 4);  // 3 system + 1
    addSystemNamespace("istio-system");
    addSystemNamespace("kube-system");
    addSystemNamespace("default");
    for (int64_t i = static_cast<int64_t>(namespaces_.size()); i < total; ++i) {
      NamespaceSpec ns;
      ns.name = std::string(kTeams[rng_.below(std::size(kTeams))]) + '-' +
                std::string(kWords[rng_.below(std::size(kWords))]) + '-' +
                std::string(kEnvs[rng_.below(std::size(kEnvs))]) + '-' + std::to_string(i);
      const uint64_t roll = rng_.below(100);
      ns.dataplane = roll < 50   ? Dataplane::Sidecar
                     : roll < 55 ? Dataplane::SidecarRevision
                     : roll < 70 ? Dataplane::Ambient
                                 : Dataplane::None;
      ns.created = kEpoch + rng_.between(0, 86400 * 30);
      ns.uid = uuid(rng_);
      namespaces_.push_back(std::move(ns));
    }
  }

  void addSystemNamespace(std::string name) {
    NamespaceSpec ns;
    ns.name = std::move(name);
    ns.system = true;
    ns.created = kEpoch - 86400 * 90;
    ns.uid = uuid(rng_);
    namespaces_.push_back(std::move(ns));
  }

  // Spreads the pods over the non-system namespaces with random weights (some namespaces end up
  // empty), then cuts each namespace's share into Deployments of 1-4 replicas.
  void buildApps() {
    const std::size_t first_user = 3;
    const std::size_t user = namespaces_.size() - first_user;
    std::vector<uint64_t> weights(user);
    uint64_t total_weight = 0;
    for (auto& weight : weights) total_weight += (weight = rng_.below(4));
    if (total_weight == 0) weights.assign(user, 1), total_weight = user;
    const auto pods = static_cast<uint64_t>(std::max<int64_t>(options_.pods, 0));
    std::vector<uint64_t> share(user);
    uint64_t assigned = 0;
    for (std::size_t i = 0; i < user; ++i) {
      share[i] = pods * weights[i] / total_weight;  // weights are < 4: no overflow
      assigned += share[i];
    }
    for (std::size_t i = 0; assigned < pods; i = (i + 1) % user) {
      if (weights[i] > 0) ++share[i], ++assigned;
    }
    for (std::size_t i = 0; i < user; ++i) {
      const int ns_index = static_cast<int>(first_user + i);
      const auto offset = rng_.below(std::size(kWords));
      auto remaining = static_cast<int64_t>(share[i]);
      for (std::size_t j = 0; remaining > 0; ++j) {
        AppSpec app;
        app.ns = ns_index;
        app.name = std::string(kWords[(offset + j * 5) % std::size(kWords)]);
        if (j >= std::size(kWords)) app.name += '-' + std::to_string(j / std::size(kWords));
        app.replicas = static_cast<int>(std::min<int64_t>(remaining, rng_.between(1, 4)));
        remaining -= app.replicas;
        fillApp(app);
        namespaces_[first_user + i].apps.push_back(static_cast<int>(apps_.size()));
        apps_.push_back(std::move(app));
      }
    }
  }

  void fillApp(AppSpec& app) {
    const NamespaceSpec& ns = namespaces_[static_cast<std::size_t>(app.ns)];
    app.version = rng_.percent(80) ? "v1" : "v2";
    app.rs_hash = randomToken(rng_, 10);
    app.rs_uid = uuid(rng_);
    const uint64_t kind = rng_.below(10);
    app.port_name = kind < 7 ? "http" : kind < 9 ? "grpc" : "http-web";
    app.port = kind < 7 ? 8080 : kind < 9 ? 9090 : 3000;
    app.metrics_port = rng_.percent(30);
    app.named_target = rng_.percent(30);
    app.has_service = rng_.percent(90);
    app.opt_out = ns.dataplane != Dataplane::None && rng_.percent(4);
    app.keep_probes = rng_.percent(5);
    app.log_shipper = rng_.percent(10);
    app.liveness = rng_.percent(50);
    app.named_probe_port = rng_.percent(20);
    app.created = ns.created + rng_.between(60, 86400 * 60);
    app.image = "registry.example.com/" + ns.name.substr(0, ns.name.find('-')) + '/' + app.name +
                ":1." + std::to_string(rng_.below(30)) + '.' + std::to_string(rng_.below(10));
    app.service_account = rng_.percent(60) ? app.name : "default";
  }

  bool injected(const AppSpec& app) const {
    const Dataplane dp = namespaces_[static_cast<std::size_t>(app.ns)].dataplane;
    return !app.opt_out && (dp == Dataplane::Sidecar || dp == Dataplane::SidecarRevision);
  }

  void writeMetaCommon(JsonWriter& w, int64_t created, const std::string& name,
                       const std::string& ns, const std::string& uid) {
    w.field("creationTimestamp", timestamp(created));
    w.field("name", name);
    if (!ns.empty()) w.field("namespace", ns);
    w.field("resourceVersion", std::to_string(1000 + rng_.below(90000000)));
    w.field("uid", uid);
  }

  // --- Namespaces --------------------------------------------------------------------------

  void writeNamespace(JsonWriter& w, const NamespaceSpec& ns) {
    w.beginObject();
    w.field("apiVersion", "v1");
    w.field("kind", "Namespace");
    w.objectField("metadata");
    w.field("creationTimestamp", timestamp(ns.created));
    w.objectField("labels");
    switch (ns.dataplane) {
      case Dataplane::Sidecar:
        w.field("istio-injection", "enabled");
        break;
      case Dataplane::SidecarRevision:
        w.field("istio.io/rev", "canary");
        break;
      case Dataplane::Ambient:
        w.field("istio.io/dataplane-mode", "ambient");
        break;
      case Dataplane::None:
        break;
    }
    w.field("kubernetes.io/metadata.name", ns.name);
    if (!ns.system) w.field("team", ns.name.substr(0, ns.name.find('-')));
    w.endObject();
    w.field("name", ns.name);
    w.field("resourceVersion", std::to_string(1000 + rng_.below(90000000)));
    w.field("uid", ns.uid);
    w.endObject();
    w.objectField("spec");
    w.arrayField("finalizers");
    w.str("kubernetes");
    w.endArray();
    w.endObject();
    w.objectField("status");
    w.field("phase", "Active");
    w.endObject();
    w.endObject();
  }

  // --- Pods --------------------------------------------------------------------------------
  // Trimmed to what a live Pod carries that policy decisions and a realistic parse cost need:
  // about 2-3.5 KB each (2.9 KB on average) in kubectl's indented layout.

  void writeHttpProbe(JsonWriter& w, std::string_view kind, const std::string& path, int64_t port) {
    w.objectField(kind);
    w.objectField("httpGet");
    w.field("path", path);
    w.field("port", port);
    w.endObject();
    w.field("periodSeconds", 10);
    w.endObject();
  }

  void writeAppContainer(JsonWriter& w, const AppSpec& app, bool rewritten) {
    w.beginObject();
    w.field("image", app.image);
    // Probes are rewritten by the injector to the agent port 15020 unless the pod opted out.
    if (app.liveness) {
      if (app.port_name == "grpc" && !rewritten) {
        w.objectField("livenessProbe");
        w.objectField("tcpSocket");
        w.field("port", app.port);
        w.endObject();
        w.endObject();
      } else {
        writeHttpProbe(w, "livenessProbe",
                       rewritten ? "/app-health/" + app.name + "/livez" : "/livez",
                       rewritten ? 15020 : app.port);
      }
    }
    w.field("name", app.name);
    w.arrayField("ports");
    w.beginObject();
    w.field("containerPort", app.port);
    w.field("name", app.port_name);
    w.field("protocol", "TCP");
    w.endObject();
    if (app.metrics_port) {
      w.beginObject();
      w.field("containerPort", 9102);
      w.field("name", "http-metrics");
      w.field("protocol", "TCP");
      w.endObject();
    }
    w.endArray();
    if (rewritten) {
      writeHttpProbe(w, "readinessProbe", "/app-health/" + app.name + "/readyz", 15020);
    } else if (app.named_probe_port) {
      w.objectField("readinessProbe");
      w.objectField("httpGet");
      w.field("path", "/readyz");
      w.field("port", app.port_name);  // a named port: resolved against the container's ports
      w.endObject();
      w.endObject();
    } else {
      writeHttpProbe(w, "readinessProbe", "/readyz", app.port);
    }
    w.endObject();
  }

  void writeProxyContainer(JsonWriter& w, const AppSpec& app, bool rewritten) {
    w.beginObject();
    w.arrayField("args");
    w.str("proxy");
    w.str("sidecar");
    w.endArray();
    if (rewritten) {
      // The injector hands the original probes to the agent as a JSON string in an env var.
      w.arrayField("env");
      w.beginObject();
      w.field("name", "ISTIO_KUBE_APP_PROBERS");
      w.field("value", "{\"/app-health/" + app.name +
                           "/readyz\":{\"httpGet\":{\"path\":\"/readyz\",\"port\":" +
                           std::to_string(app.port) + ",\"scheme\":\"HTTP\"}}}");
      w.endObject();
      w.endArray();
    }
    w.field("image", "docker.io/istio/proxyv2:1.24.2");
    w.field("name", "istio-proxy");
    w.arrayField("ports");
    w.beginObject();
    w.field("containerPort", 15090);
    w.field("name", "http-envoy-prom");
    w.field("protocol", "TCP");
    w.endObject();
    w.endArray();
    writeHttpProbe(w, "readinessProbe", "/healthz/ready", 15021);
    w.endObject();
  }

  void writePod(JsonWriter& w, const AppSpec& app, int64_t counter) {
    const NamespaceSpec& ns = namespaces_[static_cast<std::size_t>(app.ns)];
    const bool sidecar = injected(app);
    const bool ambient = ns.dataplane == Dataplane::Ambient;
    const bool rewritten = sidecar && !app.keep_probes;
    const std::string rs_name = app.name + '-' + app.rs_hash;
    const std::string name = rs_name + '-' + randomToken(rng_, 5);
    const int64_t created = app.created + rng_.between(0, 86400 * 7);
    const bool running = !rng_.percent(3);
    const std::string revision = ns.dataplane == Dataplane::SidecarRevision ? "canary" : "default";

    w.beginObject();
    w.field("apiVersion", "v1");
    w.field("kind", "Pod");
    w.objectField("metadata");
    w.objectField("annotations");
    if (ambient) w.field("ambient.istio.io/redirection", "enabled");
    if (sidecar) {
      w.field("istio.io/rev", revision);
      w.field("kubectl.kubernetes.io/default-container", app.name);
      if (app.keep_probes) w.field("sidecar.istio.io/rewriteAppHTTPProbers", "false");
      w.field("sidecar.istio.io/status",
              "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],"
              "\"volumes\":[\"workload-socket\",\"istio-envoy\",\"istio-data\","
              "\"istio-token\",\"istiod-ca-cert\"],\"imagePullSecrets\":null,\"revision\":\"" +
                  revision + "\"}");
    } else if (app.opt_out) {
      w.field("sidecar.istio.io/inject", "false");
    }
    w.endObject();
    w.field("creationTimestamp", timestamp(created));
    w.field("generateName", rs_name + '-');
    w.objectField("labels");
    w.field("app", app.name);
    w.field("pod-template-hash", app.rs_hash);
    if (sidecar) {
      w.field("security.istio.io/tlsMode", "istio");
      w.field("service.istio.io/canonical-name", app.name);
    }
    w.field("version", app.version);
    w.endObject();
    w.field("name", name);
    w.field("namespace", ns.name);
    w.arrayField("ownerReferences");
    w.beginObject();
    w.field("apiVersion", "apps/v1");
    w.fieldBool("controller", true);
    w.field("kind", "ReplicaSet");
    w.field("name", rs_name);
    w.field("uid", app.rs_uid);
    w.endObject();
    w.endArray();
    w.field("resourceVersion", std::to_string(1000 + rng_.below(90000000)));
    w.field("uid", uuid(rng_));
    w.endObject();

    w.objectField("spec");
    w.arrayField("containers");
    writeAppContainer(w, app, rewritten);
    if (app.log_shipper) {
      w.beginObject();
      w.field("image", "fluent/fluent-bit:3.1");
      w.field("name", "log-shipper");
      w.endObject();
    }
    if (sidecar) writeProxyContainer(w, app, rewritten);
    w.endArray();
    if (sidecar) {
      w.arrayField("initContainers");
      w.beginObject();
      w.field("image", "docker.io/istio/proxyv2:1.24.2");
      w.field("name", "istio-init");
      w.endObject();
      w.endArray();
    }
    w.field("nodeName", "ip-10-0-" + std::to_string(counter / 30 % 256) + '-' +
                            std::to_string(counter / 7680 % 256) + ".ec2.internal");
    w.field("serviceAccountName", app.service_account);
    w.endObject();

    w.objectField("status");
    w.arrayField("conditions");
    w.beginObject();
    w.field("lastTransitionTime", timestamp(created + 5));
    w.field("status", running ? "True" : "False");
    w.field("type", "Ready");
    w.endObject();
    w.endArray();
    w.field("hostIP", ipv4(10, counter / 30 + 1));
    w.field("phase", running ? "Running" : "Pending");
    if (running) w.field("podIP", ipv4(100, counter + 1));
    w.field("startTime", timestamp(created + 1));
    w.endObject();
    w.endObject();
  }

  // --- Services ----------------------------------------------------------------------------

  void writeService(JsonWriter& w, const AppSpec& app) {
    const NamespaceSpec& ns = namespaces_[static_cast<std::size_t>(app.ns)];
    ++counts_.services;
    w.beginObject();
    w.field("apiVersion", "v1");
    w.field("kind", "Service");
    w.objectField("metadata");
    w.field("creationTimestamp", timestamp(app.created));
    w.objectField("labels");
    w.field("app", app.name);
    w.field("service", app.name);
    w.endObject();
    w.field("name", app.name);
    w.field("namespace", ns.name);
    w.field("resourceVersion", std::to_string(1000 + rng_.below(90000000)));
    w.field("uid", uuid(rng_));
    w.endObject();
    w.objectField("spec");
    const std::string cluster_ip = ipv4(172, static_cast<int64_t>(counts_.services) + 16 * 65536);
    w.field("clusterIP", cluster_ip);
    w.arrayField("clusterIPs");
    w.str(cluster_ip);
    w.endArray();
    w.field("internalTrafficPolicy", "Cluster");
    w.arrayField("ipFamilies");
    w.str("IPv4");
    w.endArray();
    w.field("ipFamilyPolicy", "SingleStack");
    w.arrayField("ports");
    w.beginObject();
    w.field("name", app.port_name);
    w.field("port", app.port == 9090 ? int64_t{9090} : int64_t{80});
    w.field("protocol", "TCP");
    if (app.named_target) {
      w.field("targetPort", app.port_name);
    } else {
      w.field("targetPort", app.port);
    }
    w.endObject();
    w.endArray();
    w.objectField("selector");
    w.field("app", app.name);
    w.endObject();
    w.field("sessionAffinity", "None");
    w.field("type", "ClusterIP");
    w.endObject();
    w.objectField("status");
    w.objectField("loadBalancer");
    w.endObject();
    w.endObject();
    w.endObject();
  }

  // --- PeerAuthentications -----------------------------------------------------------------

  struct PortEntry {
    int64_t port;
    const char* mode;  // nullptr: `{}` (inherit)
  };

  void writePolicy(JsonWriter& w, const std::string& ns, const std::string& name, int64_t created,
                   const std::vector<std::pair<std::string, std::string>>* selector,
                   const char* mode, const std::vector<PortEntry>& ports) {
    ++counts_.policies;
    w.beginObject();
    w.field("apiVersion", rng_.percent(10) ? "security.istio.io/v1beta1" : "security.istio.io/v1");
    w.field("kind", "PeerAuthentication");
    w.objectField("metadata");
    w.objectField("annotations");
    w.field("kubectl.kubernetes.io/last-applied-configuration",
            "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"PeerAuthentication\","
            "\"metadata\":{\"annotations\":{},\"name\":\"" +
                name + "\",\"namespace\":\"" + ns + "\"},\"spec\":{}}\n");
    w.endObject();
    w.field("creationTimestamp", timestamp(created));
    w.field("generation", 1);
    w.field("name", name);
    w.field("namespace", ns);
    w.field("resourceVersion", std::to_string(1000 + rng_.below(90000000)));
    w.field("uid", uuid(rng_));
    w.endObject();
    w.objectField("spec");
    if (mode != nullptr) {
      w.objectField("mtls");
      w.field("mode", mode);
      w.endObject();
    }
    if (!ports.empty()) {
      w.objectField("portLevelMtls");
      for (const auto& entry : ports) {
        w.objectField(std::to_string(entry.port));
        if (entry.mode != nullptr) w.field("mode", entry.mode);
        w.endObject();
      }
      w.endObject();
    }
    if (selector != nullptr) {
      w.objectField("selector");
      w.objectField("matchLabels");
      for (const auto& [key, value] : *selector) w.field(key, value);
      w.endObject();
      w.endObject();
    }
    w.endObject();
    w.endObject();
  }

  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[rng_.below(i)]);
    }
  }

  static const char* pickMode(Rng& rng, uint64_t strict, uint64_t permissive, uint64_t disable) {
    const uint64_t roll = rng.below(strict + permissive + disable);
    return roll < strict ? "STRICT" : roll < strict + permissive ? "PERMISSIVE" : "DISABLE";
  }

  void writePolicies(JsonWriter& w) {
    int64_t budget = options_.policies;
    if (budget <= 0) return;
    const std::string root = "istio-system";
    const int64_t mesh_created = kEpoch - 86400 * 60;
    // Mesh-wide default, plus (at scale) a newer duplicate and an ignored root selector policy.
    writePolicy(w, root, "default", mesh_created, nullptr, "PERMISSIVE", {});
    --budget;
    if (options_.policies >= 100) {
      writePolicy(w, root, "mesh-strict", mesh_created + 86400 * 30, nullptr, "STRICT", {});
      const std::vector<std::pair<std::string, std::string>> istiod{{"app", "istiod"}};
      writePolicy(w, root, "istiod-strict", mesh_created, &istiod, "STRICT", {});
      budget -= 2;
    }

    // Namespace-wide: about 35% of the budget, one per chosen namespace, ~1% duplicated.
    std::vector<int> user;
    for (std::size_t i = 0; i < namespaces_.size(); ++i) {
      if (!namespaces_[i].system) user.push_back(static_cast<int>(i));
    }
    shuffle(user);
    const auto ns_wide = std::min<int64_t>(budget * 35 / 100, static_cast<int64_t>(user.size()));
    const int64_t duplicates = std::min<int64_t>(ns_wide / 100, budget - ns_wide);
    for (int64_t i = 0; i < ns_wide; ++i) {
      const NamespaceSpec& ns =
          namespaces_[static_cast<std::size_t>(user[static_cast<std::size_t>(i)])];
      const char* mode = ns.dataplane == Dataplane::None      ? pickMode(rng_, 10, 80, 10)
                         : ns.dataplane == Dataplane::Ambient ? pickMode(rng_, 90, 10, 0)
                                                              : pickMode(rng_, 70, 28, 2);
      const int64_t created = ns.created + rng_.between(3600, 86400 * 90);
      writePolicy(w, ns.name, "default", created, nullptr, mode, {});
      if (i < duplicates) {
        // Same age in a few cases, so the name tie-break decides.
        writePolicy(w, ns.name, "strict-mtls", i % 4 == 0 ? created : created + 600, nullptr,
                    "STRICT", {});
      }
    }
    budget -= ns_wide + duplicates;

    // Workload policies on the rest: distinct apps first; ~2% deliberately overlap an earlier one.
    std::vector<int> order(apps_.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    shuffle(order);
    std::vector<int> targeted;
    for (int64_t i = 0; i < budget && !order.empty(); ++i) {
      const bool overlap = !targeted.empty() && rng_.percent(2);
      const int app_index = overlap ? targeted[rng_.below(targeted.size())]
                                    : order[static_cast<std::size_t>(i) % order.size()];
      targeted.push_back(app_index);
      const AppSpec& app = apps_[static_cast<std::size_t>(app_index)];
      const NamespaceSpec& ns = namespaces_[static_cast<std::size_t>(app.ns)];

      std::vector<std::pair<std::string, std::string>> selector{{"app", app.name}};
      const uint64_t shape = rng_.below(100);
      if (shape < 15 || overlap) selector.emplace_back("version", app.version);
      if (shape >= 97) selector[0].second += "-legacy";  // matches nothing

      const char* mode =
          ns.dataplane == Dataplane::None ? pickMode(rng_, 5, 75, 20) : pickMode(rng_, 60, 30, 10);
      std::vector<PortEntry> ports;
      const uint64_t port_shape = rng_.below(100);
      if (port_shape < 15) {
        mode = nullptr;  // UNSET: inherit, only the port is pinned
        ports.push_back({app.port, "STRICT"});
      } else if (port_shape < 30) {
        ports.push_back({app.port, rng_.percent(50) ? "DISABLE" : "PERMISSIVE"});
        if (app.metrics_port) ports.push_back({9102, nullptr});
      } else if (port_shape < 33) {
        ports.push_back({80, "DISABLE"});  // the Service port, not the container port
      } else if (port_shape < 35) {
        ports.push_back({9999, "PERMISSIVE"});  // no container exposes it
      }
      const auto round = i / static_cast<int64_t>(order.size());
      const std::string name = overlap      ? app.name + "-override-" + std::to_string(i)
                               : round == 0 ? app.name + "-mtls"
                                            : app.name + "-mtls-" + std::to_string(round);
      writePolicy(w, ns.name, name, app.created + rng_.between(60, 86400 * 30), &selector, mode,
                  ports);
    }
  }

  // --- DestinationRules --------------------------------------------------------------------

  void writeDestinationRules(JsonWriter& w) {
    int64_t budget = options_.destination_rules;
    if (budget <= 0) return;
    if (budget >= 100) {
      writeDestinationRule(w, "istio-system", "default", "*.local", "ISTIO_MUTUAL", {}, false);
      --budget;
    }
    std::vector<int> order;
    for (std::size_t i = 0; i < apps_.size(); ++i) {
      if (apps_[i].has_service) order.push_back(static_cast<int>(i));
    }
    shuffle(order);
    for (int64_t i = 0; i < budget && !order.empty(); ++i) {
      const AppSpec& app =
          apps_[static_cast<std::size_t>(order[static_cast<std::size_t>(i) % order.size()])];
      const NamespaceSpec& ns = namespaces_[static_cast<std::size_t>(app.ns)];
      const std::string host =
          rng_.percent(50) ? app.name : app.name + '.' + ns.name + ".svc.cluster.local";
      const uint64_t roll = rng_.below(100);
      const char* mode = roll < 65 ? "ISTIO_MUTUAL" : roll < 85 ? "DISABLE" : "SIMPLE";
      std::vector<PortEntry> ports;
      if (rng_.percent(20)) ports.push_back({app.port == 9090 ? 9090 : 80, "DISABLE"});
      std::string name = app.name;
      if (i >= static_cast<int64_t>(order.size())) {
        name += "-r" + std::to_string(i / static_cast<int64_t>(order.size()));
      }
      writeDestinationRule(w, ns.name, name, host, mode, ports, rng_.percent(30));
    }
  }

  void writeDestinationRule(JsonWriter& w, const std::string& ns, const std::string& name,
                            const std::string& host, const char* mode,
                            const std::vector<PortEntry>& ports, bool tuned) {
    ++counts_.destination_rules;
    w.beginObject();
    w.field("apiVersion", "networking.istio.io/v1");
    w.field("kind", "DestinationRule");
    w.objectField("metadata");
    writeMetaCommon(w, kEpoch + rng_.between(86400, 86400 * 120), name, ns, uuid(rng_));
    w.endObject();
    w.objectField("spec");
    if (rng_.percent(20)) {
      w.arrayField("exportTo");
      w.str(".");
      w.endArray();
    }
    w.field("host", host);
    w.objectField("trafficPolicy");
    if (tuned) {
      w.objectField("connectionPool");
      w.objectField("http");
      w.field("http1MaxPendingRequests", 1024);
      w.field("maxRequestsPerConnection", 100);
      w.endObject();
      w.endObject();
      w.objectField("outlierDetection");
      w.field("baseEjectionTime", "30s");
      w.field("consecutive5xxErrors", 5);
      w.field("interval", "10s");
      w.endObject();
    }
    if (!ports.empty()) {
      w.arrayField("portLevelSettings");
      for (const auto& entry : ports) {
        w.beginObject();
        w.objectField("port");
        w.field("number", entry.port);
        w.endObject();
        w.objectField("tls");
        w.field("mode", entry.mode);
        w.endObject();
        w.endObject();
      }
      w.endArray();
    }
    w.objectField("tls");
    w.field("mode", mode);
    if (std::strcmp(mode, "SIMPLE") == 0) w.field("sni", host);
    w.endObject();
    w.endObject();
    w.endObject();
    w.endObject();
  }

  Options options_;
  Rng rng_;
  std::vector<NamespaceSpec> namespaces_;
  std::vector<AppSpec> apps_;
  Counts counts_;
};

// ---------------------------------------------------------------------------------------------

constexpr std::string_view kUsage =
    "usage: peergate_bench_gen [--namespaces N] [--pods N] [--policies N]\n"
    "                          [--destination-rules N] [--seed N] --out FILE|-\n"
    "Writes a synthetic cluster as one `kubectl get -o json`-style List.\n"
    "Defaults: 10000 namespaces (at least 4: istio-system, kube-system, default and one more),\n"
    "100000 pods, 20000 policies, 5000 destination rules, seed 1.\n";

bool parseCount(std::string_view text, int64_t& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && out >= 0;
}

int run(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "peergate_bench_gen: %s needs a value\n%s", argv[i], kUsage.data());
      return 64;
    }
    const std::string_view value = argv[++i];
    int64_t number = 0;
    bool ok = true;
    if (arg == "--out") {
      options.out = value;
    } else if (arg == "--seed") {
      ok = parseCount(value, number);
      options.seed = static_cast<uint64_t>(number);
    } else if (arg == "--namespaces" || arg == "--pods" || arg == "--policies" ||
               arg == "--destination-rules") {
      ok = parseCount(value, number);
      (arg == "--namespaces" ? options.namespaces
       : arg == "--pods"     ? options.pods
       : arg == "--policies" ? options.policies
                             : options.destination_rules) = number;
    } else {
      std::fprintf(stderr, "peergate_bench_gen: unknown flag %s\n%s", argv[i - 1], kUsage.data());
      return 64;
    }
    if (!ok) {
      std::fprintf(stderr, "peergate_bench_gen: %s wants a non-negative integer, got \"%s\"\n",
                   argv[i - 1], argv[i]);
      return 64;
    }
  }
  if (options.out.empty()) {
    std::fprintf(stderr, "peergate_bench_gen: --out is required\n%s", kUsage.data());
    return 64;
  }

  const auto start = std::chrono::steady_clock::now();
  std::FILE* out = options.out == "-" ? stdout : std::fopen(options.out.c_str(), "wb");
  if (out == nullptr) {
    std::fprintf(stderr, "peergate_bench_gen: cannot open %s: %s\n", options.out.c_str(),
                 std::strerror(errno));
    return 73;
  }
  JsonWriter writer(out);
  Cluster cluster(options);
  const Counts counts = cluster.write(writer);
  const bool ok = writer.finish() && (out == stdout || std::fclose(out) == 0);
  if (!ok) {
    std::fprintf(stderr, "peergate_bench_gen: write to %s failed: %s\n", options.out.c_str(),
                 std::strerror(errno));
    return 74;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "peergate_bench_gen: %lld namespaces, %lld pods, %lld services, %lld "
               "peerauthentications, %lld destinationrules; %llu bytes in %.2f s\n",
               static_cast<long long>(counts.namespaces), static_cast<long long>(counts.pods),
               static_cast<long long>(counts.services), static_cast<long long>(counts.policies),
               static_cast<long long>(counts.destination_rules),
               static_cast<unsigned long long>(writer.bytesWritten()), seconds);
  return 0;
}

}  // namespace
}  // namespace peergate::bench

int main(int argc, char** argv) { return peergate::bench::run(argc, argv); }
