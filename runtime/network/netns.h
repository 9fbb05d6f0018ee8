#pragma once

// Named network namespaces: a namespace kept alive by a bind mount of its nsfs file at a path
// (DESIGN.md: /run/kapsel/netns/<id>), as `ip netns add` does, but without the ip command.
//
// The daemon is multithreaded, so nothing here changes the namespace of the calling thread:
// unshare(2) and setns(2) with CLONE_NEWNET act on one thread only, and each call below does that
// work in a dedicated short-lived std::thread that exits afterwards.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::network {

// Creates a new network namespace, bind-mounts it at `path` (creating the empty file; the parent
// directory must exist) and brings its `lo` up. AlreadyExists when `path` already exists. On
// failure nothing is left behind. With `user_ns_fd`, the namespace is owned by that user
// namespace (a remapped container's, linux/userns.h), so that the container's root administers
// it: binds ports below 1024, mounts its sysfs.
absl::Status CreateNetns(const std::string& path, int user_ns_fd = -1);

// Unmounts (MNT_DETACH) and unlinks `path`. Idempotent: OK when `path` is missing or not a mount.
// The namespace itself goes away once no process, fd or other mount refers to it.
absl::Status RemoveNetns(const std::string& path);

// True when `path` is a bind mount of a network namespace (its nsfs inode, not a plain file).
bool IsNetnsMount(const std::string& path);

// An O_RDONLY|O_CLOEXEC fd of the namespace at `path`, for setns(2) or IFLA_NET_NS_FD.
absl::StatusOr<linux::UniqueFd> OpenNetns(const std::string& path);

// Runs `fn` on a new thread that has joined the namespace at `path` and returns its result. `fn`
// must not start threads of its own expecting them to be inside the namespace, and sockets it
// opens stay bound to that namespace after it returns.
absl::Status RunInNetns(const std::string& path, const std::function<absl::Status()>& fn);

}  // namespace kapsel::network
