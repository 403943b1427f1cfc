#include "peergate/proxy/proxy_policy.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "peergate/validation/decode.h"

namespace peergate::proxy {
namespace fs = std::filesystem;
using validation::ClusterState;
using validation::Error;

namespace {

Error loadError(std::string code, std::string file, std::string message) {
  Error error;
  error.code = std::move(code);
  error.file = std::move(file);
  error.message = std::move(message);
  return error;
}

bool isManifestName(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

// A ConfigMap volume's `..data` and timestamped directories would otherwise be read twice.
bool isHidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace

std::string describeModes(const ProxyPolicy& policy) {
  std::string text = "workload " + std::string(validation::toString(policy.workload_mode));
  for (const auto& [port, mode] : policy.port_modes) {
    text += ", " + std::to_string(port) + " " + std::string(validation::toString(mode));
  }
  return text;
}

std::vector<fs::path> clusterStateFiles(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(path, error)) return {path};
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (isHidden(it->path())) {
      if (it->is_directory(error)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(error) && isManifestName(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

validation::Result<ProxyPolicy> loadProxyPolicy(const fs::path& path, const std::string& ns,
                                                const std::string& name,
                                                const std::string& trust_domain) {
  validation::Inputs inputs;
  for (const fs::path& file : clusterStateFiles(path)) {
    std::ifstream stream(file, std::ios::binary);
    std::ostringstream text;
    text << stream.rdbuf();
    if (!stream || stream.bad()) {
      return loadError("io.read", file.generic_string(), "cannot read the cluster state file");
    }
    const validation::DecodeOutcome outcome =
        validation::decodeInto(text.str(), file.generic_string(), inputs);
    if (!outcome.ok()) return outcome.errors.front();
  }
  const ClusterState state(std::move(inputs));
  return buildProxyPolicy(state, ns, name, trust_domain);
}

}  // namespace peergate::proxy
