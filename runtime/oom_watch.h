#pragma once

// Notification of OOM kills in a container's cgroup, as an fd for an epoll loop:
//   v1: an eventfd registered for memory.oom_control through cgroup.event_control
//       (Documentation/admin-guide/cgroup-v1/memory.rst, "OOM Control");
//   v2: inotify on memory.events, whose oom_kill counter the kernel bumps
//       (Documentation/admin-guide/cgroup-v2.rst, "memory.events").
// In both, the count of kills comes from the cgroup's own counter, so notifications that
// coalesce lose nothing. Not thread-safe.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/cgroups/manager.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::runtime {

class OomWatch {
 public:
  // Watches the cgroup `path` of `manager`. FailedPrecondition when it has no memory controller.
  static absl::StatusOr<OomWatch> Open(const cgroups::Manager& manager, const std::string& path);

  // Readable when something happened: an OOM, or (v1) the cgroup's removal.
  int fd() const { return fd_.get(); }
  // Drains the notification and returns how many OOM kills happened since the last call.
  // NotFound once the cgroup is gone.
  absl::StatusOr<uint64_t> Consume();

 private:
  OomWatch() = default;
  absl::StatusOr<uint64_t> ReadKills() const;
  cgroups::Mode mode_ = cgroups::Mode::kV1;
  std::string dir_;
  linux::UniqueFd fd_;
  linux::UniqueFd control_;  // v1: the memory.oom_control fd the eventfd is registered for
  uint64_t seen_ = 0;
};

}  // namespace kapsel::runtime
