#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "peergate/validation/cluster_state.h"
#include "peergate/validation/result.h"
#include "peergate/webhook/metrics.h"
#include "peergate/webhook/state_source.h"
#include "peergate/webhook/state_store.h"

namespace peergate::webhook {

// A cluster-state snapshot read from files, decoded exactly as `peergate check -f PATH` decodes
// them (validation::decodeInto on each file).
struct StaticLoad {
  StateStore::Snapshot snapshot;          // null when any error occurred
  std::vector<validation::Error> errors;  // unreadable paths and every decode error
  int objects = 0;
  int files = 0;
  bool ok() const { return errors.empty(); }
};

// PATH is a file, or a directory whose *.yaml, *.yml and *.json files (recursively, sorted by
// path) are read. Hidden entries (names starting with '.') are skipped, so a ConfigMap volume's
// `..data` and timestamped directories are not read twice.
StaticLoad loadStaticState(const std::filesystem::path& path);

// The manifest files `loadStaticState` reads, sorted; errors for an unreadable directory.
std::vector<std::filesystem::path> staticStateFiles(const std::filesystem::path& path,
                                                    std::vector<validation::Error>& errors);

struct StaticStateOptions {
  std::string path;
  std::chrono::milliseconds poll_interval{2000};
};

// `--cluster-state FILE|DIR`: loads the files at start, then polls them (size, mtime, inode of
// each file and the set of files) and reloads on change. A reload that fails to decode is logged
// with every error and counted; the last good snapshot stays published (it then ages towards
// the staleness limit). An unchanged poll re-confirms the snapshot.
class StaticStateSource final : public StateSource {
 public:
  enum class PollResult { Unchanged, Reloaded, Failed };

  StaticStateSource(StaticStateOptions options, ServerMetrics& metrics);
  ~StaticStateSource() override;

  // Loads synchronously (a decode error here is a startup error), then starts polling.
  bool start(StateStore& store, std::string& error) override;
  void stop() override;
  std::string_view name() const override { return "static"; }

  // One poll, as the background thread does it (tests call it directly). Needs a store: start()
  // or attach().
  PollResult pollOnce();
  // Sets the store without loading or polling (for tests that drive pollOnce themselves).
  void attach(StateStore& store) { store_ = &store; }

 private:
  struct FileStamp {
    std::string path;
    std::uintmax_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uintmax_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  std::vector<FileStamp> stamp() const;
  bool loadAndPublish(std::string* first_error);
  void pollLoop();

  const StaticStateOptions options_;
  ServerMetrics& metrics_;
  StateStore* store_ = nullptr;

  std::vector<FileStamp> last_stamp_;
  bool last_ok_ = false;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread poller_;
};

}  // namespace peergate::webhook
