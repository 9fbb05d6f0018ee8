#pragma once

// How kapseld starts kapsel-shim, in each of its modes (the container's monitor, exec, mount-add
// and mount-rm): posix_spawn (vfork + exec in glibc; kapseld is multithreaded, fork is not safe),
// only the fds named here (every fd of kapseld is close-on-exec), an empty signal mask and default
// dispositions, and a minimal environment. The shim reports on a status pipe, read with ReadReport.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kapsel::daemon {

struct ShimSpawn {
  std::string shim_path;          // the kapsel-shim binary
  std::vector<std::string> args;  // after argv[0]: the mode and its flags
  // (kapseld's fd, the number it gets in the shim): stdio and the numbered fds of the mode.
  std::vector<std::pair<int, int>> fds;
  bool new_session = false;  // setsid(2): a monitor outlives kapseld's session
};

// The shim's pid. Errno status of posix_spawn, naming the binary.
absl::StatusOr<pid_t> SpawnShim(const ShimSpawn& spawn);

// What the shim writes on the status pipe `fd`, up to its end. DeadlineExceeded when nothing
// comes for `timeout_millis` (the caller then kills the shim); errno statuses of poll and read.
absl::StatusOr<std::string> ReadReport(int fd, int timeout_millis);

}  // namespace kapsel::daemon
