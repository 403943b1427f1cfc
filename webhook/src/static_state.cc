#include "peergate/webhook/static_state.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "peergate/validation/decode.h"
#include "peergate/webhook/decision_log.h"

namespace peergate::webhook {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxLoggedErrors = 20;

validation::Error ioError(const std::string& file, const std::string& message) {
  validation::Error error;
  error.code = "io.read";
  error.file = file;
  error.message = message;
  return error;
}

bool isManifestName(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension == ".yaml" || extension == ".yml" || extension == ".json";
}

bool isHidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

std::optional<std::string> readWholeFile(const fs::path& path,
                                         std::vector<validation::Error>& errors) {
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const std::string reason = errno != 0 ? std::strerror(errno) : "cannot open";
    errors.push_back(ioError(path.generic_string(), "cannot read: " + reason));
    return std::nullopt;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    errors.push_back(ioError(path.generic_string(), "cannot read: I/O error"));
    return std::nullopt;
  }
  return std::move(text).str();
}

void logLoadErrors(const std::string& message, const StaticLoad& load, const std::string& path) {
  const std::size_t shown = std::min(load.errors.size(), kMaxLoggedErrors);
  for (std::size_t i = 0; i < shown; ++i) {
    logEvent(spdlog::level::err, "cluster state error", {{"error", load.errors[i].describe()}});
  }
  logEvent(spdlog::level::err, message,
           {{"path", path},
            {"errors", load.errors.size()},
            {"errors_not_shown", load.errors.size() - shown}});
}

}  // namespace

std::vector<fs::path> staticStateFiles(const fs::path& path,
                                       std::vector<validation::Error>& errors) {
  std::error_code error;
  if (!fs::is_directory(path, error)) {
    if (!fs::exists(path, error)) {
      errors.push_back(ioError(path.generic_string(), "cannot read: no such file or directory"));
      return {};
    }
    return {path};
  }
  std::vector<fs::path> files;
  fs::recursive_directory_iterator it(path, error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    if (isHidden(it->path())) {
      std::error_code ignored;
      if (it->is_directory(ignored)) it.disable_recursion_pending();
      continue;
    }
    std::error_code ignored;
    if (it->is_regular_file(ignored) && isManifestName(it->path())) files.push_back(it->path());
  }
  if (error) {
    errors.push_back(ioError(path.generic_string(), "cannot read directory: " + error.message()));
  }
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return a.generic_string() < b.generic_string();
  });
  if (files.empty() && errors.empty()) {
    errors.push_back(ioError(path.generic_string(), "no *.yaml, *.yml or *.json file in it"));
  }
  return files;
}

StaticLoad loadStaticState(const fs::path& path) {
  StaticLoad load;
  validation::Inputs inputs;
  for (const fs::path& file : staticStateFiles(path, load.errors)) {
    std::optional<std::string> text = readWholeFile(file, load.errors);
    if (!text) continue;
    validation::DecodeOutcome outcome =
        validation::decodeInto(*text, file.generic_string(), inputs);
    load.objects += outcome.objects;
    load.files += 1;
    for (validation::Error& error : outcome.errors) load.errors.push_back(std::move(error));
  }
  if (load.ok()) {
    load.snapshot = std::make_shared<const validation::ClusterState>(std::move(inputs));
  }
  return load;
}

StaticStateSource::StaticStateSource(StaticStateOptions options, ServerMetrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

StaticStateSource::~StaticStateSource() { stop(); }

std::vector<StaticStateSource::FileStamp> StaticStateSource::stamp() const {
  std::vector<validation::Error> ignored;
  std::vector<FileStamp> stamps;
  for (const fs::path& file : staticStateFiles(options_.path, ignored)) {
    FileStamp entry;
    entry.path = file.generic_string();
    struct stat info {};
    if (::stat(entry.path.c_str(), &info) == 0) {
      entry.size = static_cast<std::uintmax_t>(info.st_size);
      entry.mtime_ns = static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 +
                       static_cast<std::int64_t>(info.st_mtim.tv_nsec);
      entry.inode = static_cast<std::uintmax_t>(info.st_ino);
    }
    stamps.push_back(std::move(entry));
  }
  return stamps;
}

bool StaticStateSource::loadAndPublish(std::string* first_error) {
  const auto started = std::chrono::steady_clock::now();
  StaticLoad load = loadStaticState(options_.path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!load.ok()) {
    recordSyncError(metrics_);
    logLoadErrors(store_->synced() ? "cluster state reload failed; keeping the last good state"
                                   : "cluster state load failed",
                  load, options_.path);
    if (first_error != nullptr) {
      *first_error = load.errors.front().describe();
      if (load.errors.size() > 1) {
        *first_error += " (and " + std::to_string(load.errors.size() - 1) + " more errors)";
      }
    }
    return false;
  }
  const validation::Inputs& inputs = load.snapshot->inputs();
  logEvent(spdlog::level::info, "cluster state loaded",
           {{"path", options_.path},
            {"files", load.files},
            {"objects", load.objects},
            {"namespaces", inputs.namespaces.size()},
            {"workloads", inputs.workloads.size()},
            {"peer_authentications", inputs.peer_authentications.size()},
            {"seconds", seconds}});
  publishSnapshot(*store_, metrics_, std::move(load.snapshot));
  return true;
}

StaticStateSource::PollResult StaticStateSource::pollOnce() {
  std::vector<FileStamp> current = stamp();
  if (current == last_stamp_) {
    if (!last_ok_) return PollResult::Failed;
    publishConfirmed(*store_, metrics_);
    return PollResult::Unchanged;
  }
  last_stamp_ = std::move(current);
  last_ok_ = loadAndPublish(nullptr);
  return last_ok_ ? PollResult::Reloaded : PollResult::Failed;
}

bool StaticStateSource::start(StateStore& store, std::string& error) {
  store_ = &store;
  last_stamp_ = stamp();
  last_ok_ = loadAndPublish(&error);
  if (!last_ok_) return false;
  std::lock_guard lock(mutex_);
  stopping_ = false;
  poller_ = std::thread([this] { pollLoop(); });
  return true;
}

void StaticStateSource::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (poller_.joinable()) poller_.join();
}

void StaticStateSource::pollLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    pollOnce();
    lock.lock();
  }
}

}  // namespace peergate::webhook
