#pragma once

// The image config's Volumes as anonymous volumes: each path gets a directory of the container's
// own, filled at create with what the image has at that path (as Docker fills a new volume), and
// bind-mounted there. They live in the container's directory and go with it.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kapsel/v1/containers.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::daemon {

// The image's Volumes that no -v or --tmpfs of the request already mounts, normalized and sorted.
// A path that is not absolute, or "/", is InvalidArgument naming it.
absl::StatusOr<std::vector<std::string>> AnonymousVolumePaths(const nlohmann::json& image_config,
                                                              const v1::ContainerSpec& request);

// For each path: makes `dir`/volumes/N, copies the rootfs' content at the path into it (owners,
// modes, symlinks and fifos kept; device nodes and sockets left out; nothing followed out of the
// rootfs), and adds its bind mount to `request`. A path that is a file in the image is
// InvalidArgument. For a remapped container, `root_uid`:`root_gid` (its root on the host) owns
// a volume the image has nothing for, and may search `dir`/volumes.
absl::Status AddAnonymousVolumes(const std::vector<std::string>& paths, const std::string& rootfs,
                                 const std::string& dir, v1::ContainerSpec* request,
                                 uid_t root_uid = 0, gid_t root_gid = 0);

}  // namespace kapsel::daemon
