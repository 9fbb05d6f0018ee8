#pragma once

// Pure rules of the container lifecycle that the engine applies: restart policies with their
// back-off, and signal names. No I/O; unit-tested.

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kapsel::daemon {

struct RestartPolicy {
  enum class Kind { kNo, kOnFailure, kAlways, kUnlessStopped };
  Kind kind = Kind::kNo;
  int max_retries = 0;  // on-failure only; 0 = unlimited

  // Whether an exit with `exit_code` after `restart_count` restarts is followed by another start.
  // A container the user stopped stays down whatever the policy.
  bool ShouldRestart(int exit_code, int restart_count, bool stopped_by_user) const;
  // Whether the daemon starts the container again at its own start (always, unless-stopped).
  bool StartsWithDaemon(bool stopped_by_user) const;
};

// "no" | "on-failure[:N]" | "always" | "unless-stopped"; "" is "no". InvalidArgument names the
// bad text.
absl::StatusOr<RestartPolicy> ParseRestartPolicy(const std::string& text);

// The delay before restart number `restart_count` + 1: 100 ms doubling per restart, at most one
// minute (Docker's schedule).
absl::Duration RestartDelay(int restart_count);

// Container names: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}, as Docker allows.
bool ValidContainerName(const std::string& name);

// A signal given by name (KILL, SIGKILL, RTMIN+2) or number.
absl::StatusOr<int> ParseSignal(const std::string& text);

}  // namespace kapsel::daemon
