#include "kube_config.h"

#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace peergate::webhook {
namespace fs = std::filesystem;
namespace {

using validation::Error;

constexpr const char* kHostVariable = "KUBERNETES_SERVICE_HOST";
constexpr const char* kPortVariable = "KUBERNETES_SERVICE_PORT";

Error configError(const std::string& file, std::string path, std::string message) {
  return Error{"kube.config", file, 0, 0, std::move(path), std::move(message)};
}

std::optional<std::string> readFile(const fs::path& path, std::string& reason) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    reason = errno != 0 ? std::strerror(errno) : "cannot open";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    reason = "I/O error";
    return std::nullopt;
  }
  return std::move(text).str();
}

std::string trimmed(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

bool isIpv6Literal(const std::string& host) {
  in6_addr address{};
  return ::inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

// Standard base64 (RFC 4648 §4), as kubeconfig *-data fields hold; whitespace is ignored,
// padding optional. nullopt on any other character.
std::optional<std::string> decodeBase64(const std::string& text) {
  std::array<int, 256> values{};
  values.fill(-1);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    values[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned int buffer = 0;
  int bits = 0;
  bool padding = false;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int value = values[static_cast<unsigned char>(c)];
    if (value < 0 || padding) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned int>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFFu));
    }
  }
  if (bits >= 6) return std::nullopt;  // a single dangling character
  return out;
}

// Reads kubeconfig fields with their path for messages.
class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string file) : file_(std::move(file)) {}

  const std::optional<Error>& error() const { return error_; }
  bool failed() const { return error_.has_value(); }

  void fail(const std::string& path, const std::string& message) {
    if (!error_) error_ = configError(file_, path, message);
  }

  // A string field; nullopt when absent (or null), an error when not a scalar.
  std::optional<std::string> text(const YAML::Node& map, const std::string& key,
                                  const std::string& path) {
    if (failed() || !map.IsMap()) return std::nullopt;
    const YAML::Node value = map[key];
    if (!value || value.IsNull()) return std::nullopt;
    if (!value.IsScalar()) {
      fail(path, "expected a string");
      return std::nullopt;
    }
    return value.Scalar();
  }

  std::optional<bool> boolean(const YAML::Node& map, const std::string& key,
                              const std::string& path) {
    std::optional<std::string> value = text(map, key, path);
    if (!value) return std::nullopt;
    if (*value == "true" || *value == "True" || *value == "TRUE") return true;
    if (*value == "false" || *value == "False" || *value == "FALSE") return false;
    fail(path, "expected true or false, got \"" + *value + "\"");
    return std::nullopt;
  }

  // The base64-decoded value of a *-data field.
  std::optional<std::string> data(const YAML::Node& map, const std::string& key,
                                  const std::string& path) {
    std::optional<std::string> value = text(map, key, path);
    if (!value) return std::nullopt;
    std::optional<std::string> decoded = decodeBase64(*value);
    if (!decoded) {
      fail(path, "is not valid base64 (it holds the base64 of a PEM file: base64 -w0 FILE)");
      return std::nullopt;
    }
    if (decoded->find("-----BEGIN ") == std::string::npos) {
      fail(path, "does not decode to PEM (expected \"-----BEGIN ...\" after base64 decoding)");
      return std::nullopt;
    }
    return decoded;
  }

  // Finds `name` in the named list `list_key` (clusters, users, contexts) and returns its
  // `inner_key` map; sets `path` to that map's path.
  YAML::Node named(const YAML::Node& root, const std::string& list_key, const std::string& name,
                   const std::string& inner_key, const std::string& referenced_by,
                   std::string& path) {
    if (failed()) return {};
    const YAML::Node list = root[list_key];
    if (list && !list.IsNull() && !list.IsSequence()) {
      fail(list_key, "expected a list of {name, " + inner_key + "}");
      return {};
    }
    std::vector<std::string> names;
    if (list && list.IsSequence()) {
      for (std::size_t i = 0; i < list.size(); ++i) {
        const YAML::Node entry = list[i];
        const std::string entry_path = list_key + "[" + std::to_string(i) + "]";
        if (!entry.IsMap()) {
          fail(entry_path, "expected a map with name and " + inner_key);
          return {};
        }
        std::optional<std::string> entry_name = text(entry, "name", entry_path + ".name");
        if (failed()) return {};
        if (!entry_name) continue;
        if (*entry_name != name) {
          names.push_back(*entry_name);
          continue;
        }
        path = entry_path + "." + inner_key;
        const YAML::Node inner = entry[inner_key];
        if (!inner || inner.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!inner.IsMap()) {
          fail(path, "expected a map");
          return {};
        }
        return inner;
      }
    }
    std::string known;
    for (const std::string& each : names) known += (known.empty() ? "" : ", ") + each;
    fail(referenced_by, "\"" + name + "\" is not in " + list_key +
                            (known.empty() ? " (the list is empty)" : " (found: " + known + ")"));
    return {};
  }

 private:
  std::string file_;
  std::optional<Error> error_;
};

// Relative paths in a kubeconfig are relative to the kubeconfig's directory.
std::string resolvePath(const fs::path& kubeconfig, const std::string& path) {
  if (path.empty()) return path;
  fs::path value(path);
  if (value.is_absolute()) return path;
  if (path.starts_with("~/")) {
    if (const char* home = std::getenv("HOME")) return (fs::path(home) / path.substr(2)).string();
  }
  return (kubeconfig.parent_path() / value).lexically_normal().string();
}

// A referenced file must be readable at startup, so a typo is a clear startup error rather
// than a failed handshake later.
void requireReadable(KubeconfigReader& reader, const std::string& file, const std::string& path) {
  if (reader.failed() || file.empty()) return;
  std::string reason;
  if (!readFile(file, reason)) reader.fail(path, "cannot read " + file + ": " + reason);
}

void readCluster(KubeconfigReader& reader, const YAML::Node& cluster, const std::string& path,
                 const fs::path& file, KubeConfig& config) {
  std::optional<std::string> server = reader.text(cluster, "server", path + ".server");
  if (reader.failed()) return;
  if (!server || server->empty()) {
    reader.fail(path + ".server", "required: the API server URL, e.g. https://10.0.0.1:6443");
    return;
  }
  if (std::optional<std::string> problem = parseServerUrl(*server, config)) {
    reader.fail(path + ".server", *problem);
    return;
  }
  config.server = *server;

  const std::optional<std::string> ca_file =
      reader.text(cluster, "certificate-authority", path + ".certificate-authority");
  const std::optional<std::string> ca_data =
      reader.data(cluster, "certificate-authority-data", path + ".certificate-authority-data");
  const std::optional<bool> insecure =
      reader.boolean(cluster, "insecure-skip-tls-verify", path + ".insecure-skip-tls-verify");
  const std::optional<std::string> server_name =
      reader.text(cluster, "tls-server-name", path + ".tls-server-name");
  if (cluster.IsMap() && cluster["proxy-url"] && !cluster["proxy-url"].IsNull()) {
    reader.fail(path + ".proxy-url", "proxies are not supported; connect to the server directly");
  }
  if (reader.failed()) return;
  if (ca_file && ca_data) {
    reader.fail(path,
                "certificate-authority and certificate-authority-data are both set; keep one");
    return;
  }
  if (insecure.value_or(false) && (ca_file || ca_data)) {
    // client-go refuses this combination too ("specifying a root certificates file with the
    // insecure flag is not allowed").
    reader.fail(path + ".insecure-skip-tls-verify",
                "cannot be combined with certificate-authority(-data); remove one of them");
    return;
  }
  if (ca_file) config.ca_file = resolvePath(file, *ca_file);
  if (ca_data) config.ca_pem = *ca_data;
  config.insecure_skip_tls_verify = insecure.value_or(false);
  if (server_name) config.tls_server_name = *server_name;
  requireReadable(reader, config.ca_file, path + ".certificate-authority");
}

void readUser(KubeconfigReader& reader, const YAML::Node& user, const std::string& path,
              const fs::path& file, KubeConfig& config) {
  for (const char* unsupported : {"exec", "auth-provider"}) {
    if (user.IsMap() && user[unsupported] && !user[unsupported].IsNull()) {
      reader.fail(path + "." + unsupported,
                  std::string(unsupported) +
                      " credential plugins are not supported; use token, tokenFile or "
                      "client-certificate(-data) + client-key(-data) (e.g. a ServiceAccount "
                      "token)");
      return;
    }
  }
  for (const char* unsupported : {"username", "password"}) {
    if (user.IsMap() && user[unsupported] && !user[unsupported].IsNull()) {
      reader.fail(path + "." + unsupported,
                  "basic authentication is not supported; use a token or a client certificate");
      return;
    }
  }
  const std::optional<std::string> token = reader.text(user, "token", path + ".token");
  const std::optional<std::string> token_file = reader.text(user, "tokenFile", path + ".tokenFile");
  const std::optional<std::string> cert_file =
      reader.text(user, "client-certificate", path + ".client-certificate");
  const std::optional<std::string> cert_data =
      reader.data(user, "client-certificate-data", path + ".client-certificate-data");
  const std::optional<std::string> key_file = reader.text(user, "client-key", path + ".client-key");
  const std::optional<std::string> key_data =
      reader.data(user, "client-key-data", path + ".client-key-data");
  if (reader.failed()) return;
  if (cert_file && cert_data) {
    reader.fail(path, "client-certificate and client-certificate-data are both set; keep one");
    return;
  }
  if (key_file && key_data) {
    reader.fail(path, "client-key and client-key-data are both set; keep one");
    return;
  }
  const bool has_cert = cert_file || cert_data;
  const bool has_key = key_file || key_data;
  if (has_cert != has_key) {
    reader.fail(path + (has_cert ? ".client-key" : ".client-certificate"),
                has_cert ? "required with client-certificate(-data): the certificate's private key"
                         : "required with client-key(-data): the client certificate");
    return;
  }
  if (token) config.token = trimmed(*token);
  if (token_file) config.token_file = resolvePath(file, *token_file);
  if (cert_file) config.client_cert_file = resolvePath(file, *cert_file);
  if (cert_data) config.client_cert_pem = *cert_data;
  if (key_file) config.client_key_file = resolvePath(file, *key_file);
  if (key_data) config.client_key_pem = *key_data;
  requireReadable(reader, config.token_file, path + ".tokenFile");
  requireReadable(reader, config.client_cert_file, path + ".client-certificate");
  requireReadable(reader, config.client_key_file, path + ".client-key");
}

}  // namespace

std::optional<std::string> parseServerUrl(const std::string& server, KubeConfig& config) {
  constexpr std::string_view kHttps = "https://";
  if (!server.starts_with(kHttps)) {
    if (server.starts_with("http://")) {
      return "plain http is not supported: use the https:// URL of the API server";
    }
    return "expected an https:// URL, e.g. https://10.0.0.1:6443, got \"" + server + "\"";
  }
  std::string rest = server.substr(kHttps.size());
  if (rest.find_first_of("?#") != std::string::npos) {
    return "the URL must not carry a query or fragment: \"" + server + "\"";
  }
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string{} : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos) {
    return "credentials in the URL are not supported; put them in the user entry";
  }
  std::string host;
  std::string port_text;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string::npos) return "unterminated [IPv6] address in \"" + server + "\"";
    host = authority.substr(1, close - 1);
    const std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return "unexpected text after the [IPv6] address in \"" + server + "\"";
      port_text = after.substr(1);
      if (port_text.empty()) return "no port after ':' in \"" + server + "\"";
    }
    if (!isIpv6Literal(host)) return "\"" + host + "\" is not an IPv6 address";
  } else {
    const auto colon = authority.rfind(':');
    if (colon != std::string::npos) {
      if (authority.find(':') != colon) {
        return "IPv6 addresses need brackets: https://[" + authority + "]";
      }
      host = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return "no port after ':' in \"" + server + "\"";
    } else {
      host = authority;
    }
  }
  if (host.empty()) return "no host in \"" + server + "\"";
  int port = 443;
  if (!port_text.empty()) {
    port = 0;
    for (const char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return "invalid port \"" + port_text + "\"";
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return "invalid port \"" + port_text + "\"";
  }
  config.host = host;
  config.port = port;
  config.base_path = path;
  return std::nullopt;
}

InClusterEnvironment InClusterEnvironment::fromProcess() {
  InClusterEnvironment environment;
  if (const char* host = std::getenv(kHostVariable)) environment.service_host = host;
  if (const char* port = std::getenv(kPortVariable)) environment.service_port = port;
  if (const char* dir = std::getenv("PEERGATE_SERVICE_ACCOUNT_DIR"); dir != nullptr && *dir) {
    environment.service_account_dir = dir;
  }
  return environment;
}

validation::Result<KubeConfig> loadInClusterConfig(const InClusterEnvironment& environment) {
  const std::string token_path = (environment.service_account_dir / "token").string();
  const std::string ca_path = (environment.service_account_dir / "ca.crt").string();
  const std::string namespace_path = (environment.service_account_dir / "namespace").string();
  const std::string host = trimmed(environment.service_host.value_or(""));
  const std::string port = trimmed(environment.service_port.value_or(""));
  if (host.empty() || port.empty()) {
    return configError("", host.empty() ? kHostVariable : kPortVariable,
                       "not set: not running in a Kubernetes pod (use --kubeconfig FILE outside "
                       "a cluster)");
  }
  KubeConfig config;
  const std::string authority = isIpv6Literal(host) ? "[" + host + "]:" + port : host + ":" + port;
  config.server = "https://" + authority;
  if (std::optional<std::string> problem = parseServerUrl(config.server, config)) {
    return configError("", std::string(kHostVariable) + "/" + kPortVariable, *problem);
  }
  std::string reason;
  std::optional<std::string> token = readFile(token_path, reason);
  if (!token) {
    return configError(token_path, "",
                       "cannot read the service-account token: " + reason +
                           " (is automountServiceAccountToken false?)");
  }
  if (trimmed(*token).empty()) {
    return configError(token_path, "", "the service-account token file is empty");
  }
  if (!readFile(ca_path, reason)) {
    return configError(ca_path, "", "cannot read the cluster CA certificate: " + reason);
  }
  config.token_file = token_path;
  config.ca_file = ca_path;
  if (std::optional<std::string> ns = readFile(namespace_path, reason)) {
    config.namespace_name = trimmed(*ns);
  }
  config.origin = "in-cluster (" + config.server + ")";
  return config;
}

validation::Result<KubeConfig> parseKubeconfig(const std::string& yaml_text, const fs::path& file,
                                               const std::string& context) {
  const std::string file_name = file.string();
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    Error problem = configError(file_name, "", "not valid YAML: " + error.msg);
    problem.code = "kube.config.yaml";
    if (error.mark.line >= 0) problem.line = error.mark.line + 1;
    return problem;
  }
  if (!root.IsMap()) {
    return configError(file_name, "",
                       "expected a kubeconfig (a map with clusters, users, contexts)");
  }
  KubeconfigReader reader(file_name);
  std::string context_name = context;
  std::string context_ref = "--context";
  if (context_name.empty()) {
    context_name = reader.text(root, "current-context", "current-context").value_or("");
    context_ref = "current-context";
    if (reader.failed()) return *reader.error();
    if (context_name.empty()) {
      return configError(file_name, "current-context",
                         "not set: choose a context (kubectl config use-context NAME)");
    }
  }
  std::string context_path;
  const YAML::Node context_node =
      reader.named(root, "contexts", context_name, "context", context_ref, context_path);
  if (reader.failed()) return *reader.error();
  const std::optional<std::string> cluster_name =
      reader.text(context_node, "cluster", context_path + ".cluster");
  const std::optional<std::string> user_name =
      reader.text(context_node, "user", context_path + ".user");
  const std::optional<std::string> ns =
      reader.text(context_node, "namespace", context_path + ".namespace");
  if (reader.failed()) return *reader.error();
  if (!cluster_name || cluster_name->empty()) {
    return configError(file_name, context_path + ".cluster", "required: the cluster entry to use");
  }

  KubeConfig config;
  std::string cluster_path;
  const YAML::Node cluster = reader.named(root, "clusters", *cluster_name, "cluster",
                                          context_path + ".cluster", cluster_path);
  if (reader.failed()) return *reader.error();
  readCluster(reader, cluster, cluster_path, file, config);
  if (reader.failed()) return *reader.error();

  if (user_name && !user_name->empty()) {
    std::string user_path;
    const YAML::Node user =
        reader.named(root, "users", *user_name, "user", context_path + ".user", user_path);
    if (reader.failed()) return *reader.error();
    readUser(reader, user, user_path, file, config);
    if (reader.failed()) return *reader.error();
  }
  config.namespace_name = ns.value_or("");
  config.origin = "kubeconfig " + file_name + " (context " + context_name + ")";
  return config;
}

validation::Result<KubeConfig> loadKubeconfig(const fs::path& file, const std::string& context) {
  std::string reason;
  std::optional<std::string> text = readFile(file, reason);
  if (!text) return configError(file.string(), "", "cannot read the kubeconfig: " + reason);
  return parseKubeconfig(*text, file, context);
}

}  // namespace peergate::webhook
