#pragma once

// The rules a bind mount request must meet before anything is made, shared by the volumes of
// create (-v) and the mounts added to a running container (AddMount).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kapsel/v1/containers.pb.h"

namespace kapsel::daemon {

struct BindMountRules {
  // Also refuse /sys and everything under it (sysfs, and the cgroup tree beneath it).
  bool refuse_sys = false;
};

// Checks `mount`: an absolute host path that exists, an absolute container path that is neither
// / nor under /proc (a bind over procfs files would undo the masked paths), no . or ..
// components, a known propagation (empty, private, rprivate, slave, rslave). Errors start with
// `what` (e.g. "volume /a:/b"). Returns the container path normalized: one leading /, no
// repeated or trailing slashes.
absl::StatusOr<std::string> CheckBindMount(const v1::MountSpec& mount, absl::string_view what,
                                           const BindMountRules& rules = {});

}  // namespace kapsel::daemon
