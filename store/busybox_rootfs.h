#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kapsel::store {

// The applets `<busybox_path> --list` prints, one per line. Runs the binary with posix_spawn,
// stdout on a pipe, stdin on /dev/null and an empty environment.
absl::StatusOr<std::vector<std::string>> ListBusyboxApplets(const std::string& busybox_path);

// Writes an uncompressed tar of a minimal root filesystem to `tar_path`: /bin/busybox (a copy of
// busybox_path), /bin/<applet> -> busybox for each of `applets`, the usual top-level directories
// (/tmp 1777, /root 0700), /etc/passwd (root, nobody), /etc/group (root, nogroup) and empty
// /etc/hostname, /etc/hosts, /etc/resolv.conf. Every entry carries the binary's mtime, so the
// same binary gives the same tar. NotFound naming busybox_path if it is missing.
absl::Status WriteBusyboxRootfs(const std::string& busybox_path,
                                const std::vector<std::string>& applets,
                                const std::string& tar_path);

}  // namespace kapsel::store
