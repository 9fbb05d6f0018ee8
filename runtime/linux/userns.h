#pragma once

// User namespaces made ahead of a container, for kapseld's remapped containers: the namespace
// maps the idmapped image layers, owns the container's network namespace, and is joined by the
// container's process (runtime/launch.cc). Each call forks a short-lived child, so they are safe
// in a multi-threaded process.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::linux {

// A new user namespace with the given uid_map and gid_map contents (user_namespaces(7): lines of
// "inside outside count"), written by us, so setgroups(2) stays allowed in it. Returns an fd of
// /proc/<pid>/ns/user; the namespace lives as long as the fd or a bind mount of it.
absl::StatusOr<UniqueFd> NewUserNamespace(const std::string& uid_map, const std::string& gid_map);

// A new namespace of type `clone_flag` (CLONE_NEWNET, ...) owned by the user namespace
// `user_ns_fd`: a child joins that namespace and unshares. Returns an fd of the new namespace.
absl::StatusOr<UniqueFd> NewNamespaceOwnedBy(int user_ns_fd, int clone_flag);

// Keeps the namespace `ns_fd` alive at `path`: creates `path` as an empty file (AlreadyExists
// when it is there) and bind-mounts the namespace onto it. Nothing is left behind on error.
absl::Status BindNamespace(int ns_fd, const std::string& path);

// Undoes BindNamespace: detaches the mount and removes the file. OK when neither is there.
absl::Status UnbindNamespace(const std::string& path);

// True when `path` is a bind-mounted namespace (nsfs).
bool IsNamespaceMount(const std::string& path);

}  // namespace kapsel::linux
