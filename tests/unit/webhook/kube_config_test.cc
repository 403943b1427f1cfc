// Kubeconfig and in-cluster configuration (webhook/src/kube_config.h).

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "../../../webhook/src/kube_config.h"

namespace peergate::webhook {
namespace {

namespace fs = std::filesystem;

const char* const kCaPem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
// base64 of kCaPem
const char* const kCaData =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmYWtlCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "peergate-kubeconfig-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    const fs::path file = path / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
};

std::string kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current = "c") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "contexts:\n"
         "- name: other\n  context: {cluster: nowhere, user: nobody}\n"
         "- name: c\n  context: {cluster: k, user: u, namespace: ns1}\n"
         "clusters:\n"
         "- name: k\n  cluster:\n" +
         cluster +
         "users:\n"
         "- name: u\n  user:\n" +
         user;
}

validation::Result<KubeConfig> parse(const std::string& text, const fs::path& file = "/etc/kc") {
  return parseKubeconfig(text, file);
}

TEST_CASE("kubeconfig: the current context's server, CA data and token", "[kube]") {
  const auto config = parse(kubeconfig(
      std::string("    server: https://10.0.0.1:6443\n    certificate-authority-data: ") + kCaData +
          "\n",
      "    token: \"eyJhbGciOi.payload.sig\"\n"));
  INFO((config ? "" : config.error().describe()));
  REQUIRE(config.ok());
  const KubeConfig& value = config.value();
  CHECK(value.server == "https://10.0.0.1:6443");
  CHECK(value.host == "10.0.0.1");
  CHECK(value.port == 6443);
  CHECK(value.base_path.empty());
  CHECK(value.ca_pem == kCaPem);
  CHECK(value.ca_file.empty());
  CHECK(value.token == "eyJhbGciOi.payload.sig");
  CHECK(value.token_file.empty());
  CHECK_FALSE(value.insecure_skip_tls_verify);
  CHECK(value.namespace_name == "ns1");
  CHECK(value.origin == "kubeconfig /etc/kc (context c)");
}

TEST_CASE("kubeconfig: an explicit context wins over current-context", "[kube]") {
  const std::string text =
      "current-context: a\n"
      "contexts:\n"
      "- {name: a, context: {cluster: ka, user: u}}\n"
      "- {name: b, context: {cluster: kb, user: u}}\n"
      "clusters:\n"
      "- {name: ka, cluster: {server: 'https://a.example:6443', insecure-skip-tls-verify: true}}\n"
      "- {name: kb, cluster: {server: 'https://b.example', insecure-skip-tls-verify: true}}\n"
      "users:\n"
      "- {name: u, user: {token: t}}\n";
  const auto current = parseKubeconfig(text, "/kc");
  REQUIRE(current.ok());
  CHECK(current.value().host == "a.example");
  const auto chosen = parseKubeconfig(text, "/kc", "b");
  REQUIRE(chosen.ok());
  CHECK(chosen.value().host == "b.example");
  CHECK(chosen.value().port == 443);
  CHECK(chosen.value().insecure_skip_tls_verify);
}

TEST_CASE("kubeconfig: file references are resolved against the kubeconfig's directory", "[kube]") {
  TempDir dir;
  dir.write("pki/ca.crt", kCaPem);
  dir.write("pki/client.crt", "cert");
  dir.write("pki/client.key", "key");
  dir.write("token", "from-file\n");
  const fs::path file =
      dir.write("config", kubeconfig("    server: https://api.example:6443/k8s/clusters/c-1/\n"
                                     "    certificate-authority: pki/ca.crt\n"
                                     "    tls-server-name: kubernetes.default.svc\n",
                                     "    tokenFile: token\n"
                                     "    client-certificate: pki/client.crt\n"
                                     "    client-key: " +
                                         (dir.path / "pki/client.key").string() + "\n"));
  const auto config = loadKubeconfig(file);
  INFO((config ? "" : config.error().describe()));
  REQUIRE(config.ok());
  const KubeConfig& value = config.value();
  CHECK(value.host == "api.example");
  CHECK(value.base_path == "/k8s/clusters/c-1");
  CHECK(value.ca_file == (dir.path / "pki/ca.crt").string());
  CHECK(value.tls_server_name == "kubernetes.default.svc");
  CHECK(value.token_file == (dir.path / "token").string());
  CHECK(value.client_cert_file == (dir.path / "pki/client.crt").string());
  CHECK(value.client_key_file == (dir.path / "pki/client.key").string());
  CHECK(value.hasClientCertificate());
}

TEST_CASE("kubeconfig: client certificate and key as base64 data", "[kube]") {
  const std::string data = kCaData;  // any PEM will do for parsing
  const auto config = parse(
      kubeconfig("    server: https://[fd00::1]:6443\n    insecure-skip-tls-verify: true\n",
                 "    client-certificate-data: " + data + "\n    client-key-data: " + data + "\n"));
  INFO((config ? "" : config.error().describe()));
  REQUIRE(config.ok());
  CHECK(config.value().host == "fd00::1");
  CHECK(config.value().port == 6443);
  CHECK(config.value().client_cert_pem == kCaPem);
  CHECK(config.value().client_key_pem == kCaPem);
  CHECK(config.value().token.empty());
}

TEST_CASE("kubeconfig: mistakes are reported with the file and the field", "[kube]") {
  const std::string ok_cluster = "    server: https://10.0.0.1:6443\n";
  const std::string ok_user = "    token: t\n";
  const std::string data = kCaData;
  const auto row = GENERATE_COPY(table<std::string, std::string, std::string, std::string>({
      {"no current-context", kubeconfig(ok_cluster, ok_user, "\"\""), "current-context",
       "not set: choose a context"},
      {"unknown context", kubeconfig(ok_cluster, ok_user, "prod"), "current-context",
       "\"prod\" is not in contexts (found: other, c)"},
      {"no server", kubeconfig("    insecure-skip-tls-verify: true\n", ok_user),
       "clusters[0].cluster.server", "required: the API server URL"},
      {"plain http", kubeconfig("    server: http://10.0.0.1:8080\n", ok_user),
       "clusters[0].cluster.server", "plain http is not supported"},
      {"bad port", kubeconfig("    server: https://10.0.0.1:99999\n", ok_user),
       "clusters[0].cluster.server", "invalid port \"99999\""},
      {"IPv6 without brackets", kubeconfig("    server: https://fd00::1\n", ok_user),
       "clusters[0].cluster.server", "IPv6 addresses need brackets"},
      {"CA data not base64",
       kubeconfig(ok_cluster + "    certificate-authority-data: '%%%'\n", ok_user),
       "clusters[0].cluster.certificate-authority-data", "is not valid base64"},
      {"CA data not PEM",
       kubeconfig(ok_cluster + "    certificate-authority-data: aGVsbG8=\n", ok_user),
       "clusters[0].cluster.certificate-authority-data", "does not decode to PEM"},
      {"CA twice",
       kubeconfig(ok_cluster + "    certificate-authority: /ca\n    certificate-authority-data: " +
                      data + "\n",
                  ok_user),
       "clusters[0].cluster", "certificate-authority and certificate-authority-data are both set"},
      {"insecure with a CA",
       kubeconfig(
           ok_cluster +
               "    insecure-skip-tls-verify: true\n    certificate-authority-data: " + data + "\n",
           ok_user),
       "clusters[0].cluster.insecure-skip-tls-verify", "cannot be combined"},
      {"insecure not a boolean",
       kubeconfig(ok_cluster + "    insecure-skip-tls-verify: maybe\n", ok_user),
       "clusters[0].cluster.insecure-skip-tls-verify", "expected true or false, got \"maybe\""},
      {"unreadable CA file",
       kubeconfig(ok_cluster + "    certificate-authority: /nonexistent/ca.crt\n", ok_user),
       "clusters[0].cluster.certificate-authority",
       "cannot read /nonexistent/ca.crt: No such file or directory"},
      {"certificate without key",
       kubeconfig(ok_cluster, "    client-certificate-data: " + data + "\n"),
       "users[0].user.client-key", "required with client-certificate(-data)"},
      {"key without certificate", kubeconfig(ok_cluster, "    client-key-data: " + data + "\n"),
       "users[0].user.client-certificate", "required with client-key(-data)"},
      {"exec plugin",
       kubeconfig(ok_cluster,
                  "    exec:\n      command: aws\n      apiVersion: "
                  "client.authentication.k8s.io/v1\n"),
       "users[0].user.exec", "exec credential plugins are not supported"},
      {"basic auth", kubeconfig(ok_cluster, "    username: admin\n    password: secret\n"),
       "users[0].user.username", "basic authentication is not supported"},
      {"token not a string", kubeconfig(ok_cluster, "    token: [a, b]\n"), "users[0].user.token",
       "expected a string"},
      {"missing token file", kubeconfig(ok_cluster, "    tokenFile: /nonexistent/token\n"),
       "users[0].user.tokenFile", "cannot read /nonexistent/token"},
  }));
  const auto& [name, text, path, message] = row;
  CAPTURE(name);
  const auto config = parse(text);
  REQUIRE_FALSE(config.ok());
  const validation::Error& error = config.error();
  CHECK(error.code == "kube.config");
  CHECK(error.file == "/etc/kc");
  CHECK(error.path == path);
  CHECK_THAT(error.message, Catch::Contains(message));
}

TEST_CASE("kubeconfig: a context naming a missing cluster or user says which", "[kube]") {
  const std::string text =
      "current-context: c\n"
      "contexts: [{name: c, context: {cluster: gone, user: u}}]\n"
      "clusters: [{name: k, cluster: {server: 'https://x'}}]\n"
      "users: [{name: u, user: {token: t}}]\n";
  const auto config = parse(text);
  REQUIRE_FALSE(config.ok());
  CHECK(config.error().path == "contexts[0].context.cluster");
  CHECK(config.error().message == "\"gone\" is not in clusters (found: k)");

  const auto user = parse(
      "current-context: c\n"
      "contexts: [{name: c, context: {cluster: k, user: nobody}}]\n"
      "clusters: [{name: k, cluster: {server: 'https://x'}}]\n");
  REQUIRE_FALSE(user.ok());
  CHECK(user.error().path == "contexts[0].context.user");
  CHECK(user.error().message == "\"nobody\" is not in users (the list is empty)");
}

TEST_CASE("kubeconfig: invalid YAML and unreadable files", "[kube]") {
  const auto broken = parse("current-context: [\n");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().code == "kube.config.yaml");
  CHECK_THAT(broken.error().message, Catch::StartsWith("not valid YAML"));
  CHECK(broken.error().line > 0);

  const auto scalar = parse("just text\n");
  REQUIRE_FALSE(scalar.ok());
  CHECK_THAT(scalar.error().message, Catch::Contains("expected a kubeconfig"));

  const auto missing = loadKubeconfig("/nonexistent/kubeconfig");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().file == "/nonexistent/kubeconfig");
  CHECK_THAT(missing.error().message,
             Catch::Equals("cannot read the kubeconfig: No such file or directory"));
}

TEST_CASE("server URLs: scheme, brackets, ports and path prefixes", "[kube]") {
  const auto [url, host, port, base] = GENERATE(table<std::string, std::string, int, std::string>({
      {"https://10.96.0.1", "10.96.0.1", 443, ""},
      {"https://10.96.0.1:443/", "10.96.0.1", 443, ""},
      {"https://api.example.com:6443", "api.example.com", 6443, ""},
      {"https://[::1]:8443", "::1", 8443, ""},
      {"https://[2001:db8::1]", "2001:db8::1", 443, ""},
      {"https://rancher.example/k8s/clusters/c-abc", "rancher.example", 443, "/k8s/clusters/c-abc"},
  }));
  CAPTURE(url);
  KubeConfig config;
  const std::optional<std::string> problem = parseServerUrl(url, config);
  CHECK_FALSE(problem.has_value());
  CHECK(config.host == host);
  CHECK(config.port == port);
  CHECK(config.base_path == base);

  const auto bad =
      GENERATE(as<std::string>{}, "10.0.0.1:6443", "https://", "https://[::1",
               "https://user:pw@host", "https://host:", "https://host?x=1", "https://[::1]x");
  CAPTURE(bad);
  KubeConfig ignored;
  CHECK(parseServerUrl(bad, ignored).has_value());
}

TEST_CASE("in-cluster config reads the service-account mount", "[kube]") {
  TempDir dir;
  dir.write("token", "eyJ.token.sig\n");
  dir.write("ca.crt", kCaPem);
  dir.write("namespace", "peergate-system");
  InClusterEnvironment environment;
  environment.service_host = "10.96.0.1";
  environment.service_port = "443";
  environment.service_account_dir = dir.path;
  REQUIRE(environment.inCluster());

  const auto config = loadInClusterConfig(environment);
  INFO((config ? "" : config.error().describe()));
  REQUIRE(config.ok());
  CHECK(config.value().server == "https://10.96.0.1:443");
  CHECK(config.value().host == "10.96.0.1");
  CHECK(config.value().port == 443);
  CHECK(config.value().token_file == (dir.path / "token").string());
  CHECK(config.value().token.empty());  // never cached: KubeClient re-reads the file
  CHECK(config.value().ca_file == (dir.path / "ca.crt").string());
  CHECK(config.value().namespace_name == "peergate-system");
  CHECK(config.value().origin == "in-cluster (https://10.96.0.1:443)");

  environment.service_host = "fd00:10:96::1";
  environment.service_port = "6443";
  const auto v6 = loadInClusterConfig(environment);
  REQUIRE(v6.ok());
  CHECK(v6.value().server == "https://[fd00:10:96::1]:6443");
  CHECK(v6.value().host == "fd00:10:96::1");
  CHECK(v6.value().port == 6443);
}

TEST_CASE("in-cluster config: what is missing is named", "[kube]") {
  TempDir dir;
  InClusterEnvironment environment;
  environment.service_account_dir = dir.path;

  const auto outside = loadInClusterConfig(environment);
  REQUIRE_FALSE(outside.ok());
  CHECK(outside.error().path == "KUBERNETES_SERVICE_HOST");
  CHECK_THAT(outside.error().message, Catch::Contains("not running in a Kubernetes pod"));

  environment.service_host = "10.96.0.1";
  const auto no_port = loadInClusterConfig(environment);
  REQUIRE_FALSE(no_port.ok());
  CHECK(no_port.error().path == "KUBERNETES_SERVICE_PORT");

  environment.service_port = "443";
  const auto no_token = loadInClusterConfig(environment);
  REQUIRE_FALSE(no_token.ok());
  CHECK(no_token.error().file == (dir.path / "token").string());
  CHECK_THAT(no_token.error().message,
             Catch::Contains("cannot read the service-account token: No such file or directory"));

  dir.write("token", "  \n");
  const auto empty_token = loadInClusterConfig(environment);
  REQUIRE_FALSE(empty_token.ok());
  CHECK_THAT(empty_token.error().message, Catch::Contains("token file is empty"));

  dir.write("token", "t");
  const auto no_ca = loadInClusterConfig(environment);
  REQUIRE_FALSE(no_ca.ok());
  CHECK(no_ca.error().file == (dir.path / "ca.crt").string());

  dir.write("ca.crt", kCaPem);  // the namespace file is optional
  const auto ok = loadInClusterConfig(environment);
  REQUIRE(ok.ok());
  CHECK(ok.value().namespace_name.empty());
}

// Sets variables for the scope of a test and restores what was there.
struct ScopedEnvironment {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  void set(const std::string& name, const char* value) {
    const char* old = std::getenv(name.c_str());
    saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value != nullptr) {
      ::setenv(name.c_str(), value, 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
  ~ScopedEnvironment() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }
};

TEST_CASE("in-cluster environment comes from the process", "[kube]") {
  ScopedEnvironment scoped;
  scoped.set("KUBERNETES_SERVICE_HOST", "10.1.2.3");
  scoped.set("KUBERNETES_SERVICE_PORT", "6443");
  scoped.set("PEERGATE_SERVICE_ACCOUNT_DIR", "/tmp/sa");
  const InClusterEnvironment environment = InClusterEnvironment::fromProcess();
  CHECK(environment.inCluster());
  CHECK(environment.service_host == "10.1.2.3");
  CHECK(environment.service_port == "6443");
  CHECK(environment.service_account_dir == "/tmp/sa");
  scoped.set("KUBERNETES_SERVICE_HOST", nullptr);
  CHECK_FALSE(InClusterEnvironment::fromProcess().inCluster());
}

}  // namespace
}  // namespace peergate::webhook
