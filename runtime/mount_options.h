#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kapsel::runtime {

// OCI mount options (mount(8) names) split into mount(2) flags, propagation and fs data.
struct MountOptions {
  unsigned long flags = 0;        // MS_RDONLY, MS_NOSUID, ...
  unsigned long propagation = 0;  // MS_PRIVATE, MS_SLAVE, MS_SHARED, MS_UNBINDABLE (| MS_REC)
  bool bind = false;
  bool recursive = false;  // rbind
  // "rro" (as runc): read-only on the mount and every submount, with mount_setattr(2)
  // AT_RECURSIVE; a MS_REMOUNT|MS_RDONLY reaches only the top mount of an rbind.
  bool recursive_read_only = false;
  std::string data;  // the options the filesystem parses itself, comma-joined
};

absl::StatusOr<MountOptions> ParseMountOptions(const std::vector<std::string>& options);

}  // namespace kapsel::runtime
