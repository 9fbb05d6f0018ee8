#pragma once

// One interface over cgroup v1 (legacy and hybrid hosts) and cgroup v2 (unified hosts). The mode
// is detected with statfs(2) on the cgroup root, as runc and crun do.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/spec.h"

namespace kapsel::runtime::cgroups {

enum class Mode { kV1, kV2 };

struct Stats {
  uint64_t memory_usage = 0;  // bytes
  uint64_t memory_peak = 0;   // bytes
  uint64_t memory_limit = 0;  // bytes
  uint64_t cpu_usage = 0;     // nanoseconds
  uint64_t pids_current = 0;
  uint64_t oom_kills = 0;
};

// Thread-compatible. Paths are relative to the hierarchy root (e.g. "kapsel/<id>").
class Manager {
 public:
  virtual ~Manager() = default;
  virtual Mode mode() const = 0;
  // Creates the cgroup (and its parents) and applies the resources. Leaves nothing behind on error.
  virtual absl::Status Create(const std::string& path, const Resources& resources) = 0;
  virtual absl::Status AddProcess(const std::string& path, pid_t pid) = 0;
  // Kills whatever is left in the cgroup and removes it. Missing cgroups are not an error.
  virtual absl::Status Destroy(const std::string& path) = 0;
  virtual absl::StatusOr<Stats> GetStats(const std::string& path) = 0;
  // Applies new limits to an existing cgroup (a running container's). Only the fields set in
  // `resources` are written.
  virtual absl::Status Update(const std::string& path, const Resources& resources) = 0;
  // Freezes (or thaws) every process of the cgroup and returns once the kernel reports the
  // whole cgroup frozen (or thawed). v1: the freezer controller; v2: cgroup.freeze.
  virtual absl::Status Freeze(const std::string& path, bool frozen) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The directory of the memory controller for `path` ("" when there is none).
  virtual std::string MemoryDir(const std::string& path) const = 0;
};

// Detects the host's mode under `root` (default /sys/fs/cgroup).
absl::StatusOr<Mode> DetectMode(const std::string& root = "/sys/fs/cgroup");
absl::StatusOr<std::unique_ptr<Manager>> NewManager(const std::string& root = "/sys/fs/cgroup");

std::unique_ptr<Manager> NewV1Manager(const std::string& root);
std::unique_ptr<Manager> NewV2Manager(const std::string& root);

// Helpers shared by both versions.
absl::Status WriteFile(const std::string& path, const std::string& value);
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace kapsel::runtime::cgroups
