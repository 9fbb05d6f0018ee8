#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Small filesystem helpers for the store. All paths are absolute host paths; errors name the
// call and the path.
namespace kapsel::store {

// mkdir -p with `mode` for the directories it creates.
absl::Status MkdirAll(const std::string& path, mode_t mode);

// Removes `path` and everything below it without following symlinks. OK if it is absent.
absl::Status RemoveTree(const std::string& path);

// Removes every entry of the directory `dirfd` (not the directory itself), without following
// symlinks.
absl::Status RemoveChildrenAt(int dirfd, const std::string& what);

// Removes the entry `name` of directory `dirfd` (recursively for a directory, never following
// symlinks). OK if it is absent. `what` names it in errors.
absl::Status RemoveEntryAt(int dirfd, const std::string& name, const std::string& what);

// The names in directory `dirfd` (which may be O_PATH), except "." and "..".
absl::StatusOr<std::vector<std::string>> ListDirAt(int dirfd, const std::string& what);

// fsync(2) of a directory, to make a rename or unlink in it durable.
absl::Status FsyncDir(const std::string& path);

// mkdtemp(3) of `<parent>/<prefix>XXXXXX`; returns the new directory's path.
absl::StatusOr<std::string> MakeTempDir(const std::string& parent, const std::string& prefix);

// Sum of st_size of the regular files below `path` (symlinks not followed, each hard-linked
// inode counted once).
absl::StatusOr<int64_t> TreeSize(const std::string& path);

}  // namespace kapsel::store
