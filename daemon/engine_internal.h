#pragma once

// Helpers shared by the engine's source files (engine.cc, engine_lifecycle.cc, ...). Not an API.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "kapsel/v1/containers.pb.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "store/containers_repo.h"

namespace kapsel::daemon::internal {

// Running or paused: a shim and a container init exist.
inline bool IsActive(const std::string& state) { return state == "running" || state == "paused"; }

// The request the container was created from (stored as JSON in its row).
inline v1::ContainerSpec SpecOf(const store::ContainerRecord& rec) {
  v1::ContainerSpec spec;
  (void)google::protobuf::util::JsonStringToMessage(rec.spec_json, &spec);
  return spec;
}

// A pidfd of the container's init, checked to be the child of the container's own shim (which
// its recorded start time identifies), so that a reused pid is never entered. FailedPrecondition
// "container X is not running" otherwise.
inline absl::StatusOr<linux::UniqueFd> InitPidfd(const store::ContainerRecord& rec) {
  auto not_running = [&] {
    return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is not running"));
  };
  if (rec.pid <= 0 || rec.shim_pid <= 0) return not_running();
  auto pidfd = linux::PidfdOpen(rec.pid);
  if (!pidfd.ok()) return not_running();
  if (linux::ProcStatField(rec.pid, 4) != static_cast<uint64_t>(rec.shim_pid) ||
      linux::ProcStatField(rec.shim_pid, 22) != rec.shim_start_time ||
      linux::ProcStatField(rec.pid, 22) == 0) {
    return not_running();
  }
  return pidfd;
}

}  // namespace kapsel::daemon::internal
