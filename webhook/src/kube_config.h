#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "peergate/validation/result.h"

namespace peergate::webhook {

// How to reach and authenticate to a Kubernetes API server: what a kubeconfig context or the
// in-cluster service-account mount says (docs/cluster-state.md). Plain data; KubeClient uses it.
struct KubeConfig {
  std::string server;     // as written: "https://10.0.0.1:6443" (a path prefix is kept)
  std::string host;       // "10.0.0.1", "api.example.com", "::1" (IPv6 without brackets)
  int port = 443;         //
  std::string base_path;  // "" or "/k8s/clusters/c-1" (no trailing slash)

  // Server verification. At most one of ca_file / ca_pem; neither = the system trust store.
  std::string ca_file;  // PEM bundle path (certificate-authority, in-cluster ca.crt)
  std::string ca_pem;   // PEM text (decoded certificate-authority-data)
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // name checked in (and sent as SNI to) the server certificate

  // Credentials. A token file wins over a static token and is re-read (KubeClient).
  std::string token;                              // static bearer token (kubeconfig `token`)
  std::string token_file;                         // in-cluster token, kubeconfig `tokenFile`
  std::string client_cert_file, client_key_file;  // PEM paths
  std::string client_cert_pem, client_key_pem;    // PEM text (decoded *-data)

  std::string namespace_name;  // the context's namespace / the service account's namespace
  std::string origin;          // for logs: "in-cluster" or "kubeconfig FILE (context C)"

  bool hasClientCertificate() const {
    return !client_cert_file.empty() || !client_cert_pem.empty();
  }
};

// Where the in-cluster configuration is read from; the defaults are what a pod sees.
struct InClusterEnvironment {
  std::optional<std::string> service_host;  // $KUBERNETES_SERVICE_HOST
  std::optional<std::string> service_port;  // $KUBERNETES_SERVICE_PORT
  // The service-account mount (token, ca.crt, namespace); tests point it at a temporary dir.
  std::filesystem::path service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";

  // The current process's environment. $PEERGATE_SERVICE_ACCOUNT_DIR, when set, replaces the
  // mount path (tests and local runs).
  static InClusterEnvironment fromProcess();
  // Both variables set: the process runs in a pod.
  bool inCluster() const { return service_host.has_value() && service_port.has_value(); }
};

// In-cluster config as client-go's InClusterConfig builds it: server https://HOST:PORT (IPv6
// bracketed), CA = ca.crt, bearer token re-read from the token file, namespace from the
// namespace file (optional). Errors (code "kube.config") name the variable or file.
validation::Result<KubeConfig> loadInClusterConfig(const InClusterEnvironment& environment);

// A kubeconfig file: the context named `context` (empty = current-context), its cluster
// (server, certificate-authority[-data], insecure-skip-tls-verify, tls-server-name) and its user
// (token, tokenFile, client-certificate[-data] + client-key[-data]). Relative paths are relative
// to the file's directory, as kubectl resolves them. Unsupported credentials (exec,
// auth-provider, username/password) are errors. Errors name the file and the field path
// ("users[0].user.client-key-data").
validation::Result<KubeConfig> loadKubeconfig(const std::filesystem::path& file,
                                              const std::string& context = "");

// The same from text; `file` is used for messages and to resolve relative paths.
validation::Result<KubeConfig> parseKubeconfig(const std::string& yaml_text,
                                               const std::filesystem::path& file,
                                               const std::string& context = "");

// Splits "https://host:port/prefix" into config.host, port and base_path; nullopt on success,
// else the reason. Only https is accepted (the client speaks TLS only).
std::optional<std::string> parseServerUrl(const std::string& server, KubeConfig& config);

}  // namespace peergate::webhook
