#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// The overlay snapshot of a container: its image's unpacked layers as read-only lowerdirs,
// `<container_dir>/upper` and `<container_dir>/work` as the writable layer, mounted at
// `<container_dir>/rootfs`. Needs CAP_SYS_ADMIN.
namespace kapsel::store {

struct OverlayPaths {
  std::string upper;   // <container_dir>/upper
  std::string work;    // <container_dir>/work
  std::string rootfs;  // <container_dir>/rootfs, the mount point
};

OverlayPaths OverlayPathsFor(const std::string& container_dir);

// The user namespace of a remapped container: its image layers are mounted idmapped through it,
// so that their root-owned files belong to the container's root; the layers on disk are shared
// with every other container, unchanged. The upper layer is the container's own: its top
// directory is owned by the mapped root (host ids `root_uid`:`root_gid`), and what the container
// writes there is stored with the host ids it maps to.
struct OverlayIdmap {
  int user_ns_fd = -1;
  unsigned root_uid = 0;
  unsigned root_gid = 0;
};

// Creates upper/, work/ and rootfs/ as needed and mounts overlayfs at rootfs/ with `lowerdirs`
// (TOP layer first, as ImageStore::LowerDirs returns them). OK if rootfs/ is already a mount
// point. InvalidArgument for no lowerdir or a path overlayfs cannot take (',' or ':' in it, or
// options longer than a page). With `idmap`, the layers are idmapped mounts (Linux 5.19) made
// under <container_dir>/idmap and detached again once the overlay holds them.
absl::Status MountOverlay(const std::string& container_dir,
                          const std::vector<std::string>& lowerdirs,
                          const OverlayIdmap* idmap = nullptr);

// Detaches the mount at rootfs/ (MNT_DETACH), and any idmapped layer a crash left staged under
// idmap/. OK if nothing is mounted there or the directory is gone, so cleanup can call it twice.
absl::Status UnmountOverlay(const std::string& container_dir);

// True when `path` is the root of a mount: its device differs from its parent's.
absl::StatusOr<bool> IsMountPoint(const std::string& path);

}  // namespace kapsel::store
