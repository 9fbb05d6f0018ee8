#include "store/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/linux/unique_fd.h"
#include "store/fs_util.h"

namespace kapsel::store {
namespace {

// mount(2) copies at most one page of option data.
constexpr size_t kMaxMountData = 4095;

}  // namespace

absl::StatusOr<bool> IsMountPoint(const std::string& path) {
  struct stat self, parent;
  if (lstat(path.c_str(), &self) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  std::string up = absl::StrCat(path, "/..");
  if (stat(up.c_str(), &parent) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("stat ", up));
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

OverlayPaths OverlayPathsFor(const std::string& container_dir) {
  return {absl::StrCat(container_dir, "/upper"), absl::StrCat(container_dir, "/work"),
          absl::StrCat(container_dir, "/rootfs")};
}

namespace {

// Detaches the staged layer mounts and removes their mount points.
void DetachAll(const std::vector<std::string>& mounts, const std::string& staging) {
  // rmdir, not a recursive removal: it can never reach into a layer left attached.
  for (const std::string& m : mounts) {
    umount2(m.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    rmdir(m.c_str());
  }
  rmdir(staging.c_str());
}

// Attaches an idmapped copy of each of `layers` at <staging>/<i> and returns those paths. On
// error, what was attached is detached again.
absl::StatusOr<std::vector<std::string>> AttachIdmappedLayers(
    const std::vector<std::string>& layers, const std::string& staging, int user_ns_fd) {
  std::vector<std::string> attached;
  absl::Cleanup undo = [&] { DetachAll(attached, staging); };
  if (mkdir(staging.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", staging));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string target = absl::StrCat(staging, "/", i);
    if (mkdir(target.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", target));
    }
    absl::Cleanup remove_target = [&] { rmdir(target.c_str()); };
    // open_tree(2) and move_mount(2): Linux 5.2; MOUNT_ATTR_IDMAP: 5.12.
    linux::UniqueFd tree(
        open_tree(AT_FDCWD, layers[i].c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) return absl::ErrnoToStatus(errno, absl::StrCat("open_tree ", layers[i]));
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<uint64_t>(user_ns_fd);
    if (mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0) {
      if (errno == EINVAL) {
        // The filesystem does not allow idmapped mounts (tmpfs before Linux 6.3, for one).
        return absl::FailedPreconditionError(absl::StrCat(
            "the filesystem of ", layers[i],
            " has no idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: EINVAL), which a remapped "
            "container needs; put the data root on ext4, xfs or btrfs"));
      }
      return absl::ErrnoToStatus(errno, absl::StrCat("mount_setattr idmap ", layers[i]));
    }
    if (move_mount(tree.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("move_mount ", layers[i], " to ", target));
    }
    std::move(remove_target).Cancel();
    attached.push_back(target);
  }
  std::move(undo).Cancel();
  return attached;
}

}  // namespace

absl::Status MountOverlay(const std::string& container_dir,
                          const std::vector<std::string>& lowerdirs, const OverlayIdmap* idmap) {
  if (lowerdirs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("mount overlay ", container_dir, ": no layers"));
  }
  OverlayPaths paths = OverlayPathsFor(container_dir);
  for (const std::string& dir : {paths.upper, paths.work, paths.rootfs}) {
    absl::Status status = MkdirAll(dir, 0755);
    if (!status.ok()) return status;
  }
  absl::StatusOr<bool> mounted = IsMountPoint(paths.rootfs);
  if (!mounted.ok()) return mounted.status();
  if (*mounted) return absl::OkStatus();

  std::vector<std::string> all = lowerdirs;
  all.push_back(paths.upper);
  all.push_back(paths.work);
  for (const std::string& dir : all) {
    // overlayfs splits its options at ',' and lowerdir at ':'.
    if (absl::StrContains(dir, ",") || absl::StrContains(dir, ":")) {
      return absl::InvalidArgumentError(
          absl::StrCat("mount overlay ", paths.rootfs, ": unsupported character in ", dir));
    }
  }
  std::vector<std::string> layers = lowerdirs;
  std::vector<std::string> attached;
  const std::string staging = absl::StrCat(container_dir, "/idmap");
  // The idmapped copies are needed only while overlayfs is mounted: it clones the layers' mounts.
  absl::Cleanup detach = [&] {
    if (idmap != nullptr) DetachAll(attached, staging);
  };
  if (idmap != nullptr) {
    struct stat st;
    if (lstat(paths.upper.c_str(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("stat ", paths.upper));
    }
    if ((st.st_uid != idmap->root_uid || st.st_gid != idmap->root_gid) &&
        lchown(paths.upper.c_str(), idmap->root_uid, idmap->root_gid) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("chown ", paths.upper));
    }
    auto staged = AttachIdmappedLayers(lowerdirs, staging, idmap->user_ns_fd);
    if (!staged.ok()) {
      return absl::Status(staged.status().code(), absl::StrCat("mount overlay ", paths.rootfs, ": ",
                                                               staged.status().message()));
    }
    attached = *staged;
    layers = attached;
  }
  std::string data = absl::StrCat("lowerdir=", absl::StrJoin(layers, ":"),
                                  ",upperdir=", paths.upper, ",workdir=", paths.work);
  if (data.size() > kMaxMountData) {
    return absl::InvalidArgumentError(absl::StrCat("mount overlay ", paths.rootfs, ": ",
                                                   lowerdirs.size(), " layers are too many"));
  }
  if (mount("overlay", paths.rootfs.c_str(), "overlay", 0, data.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mount overlay ", paths.rootfs));
  }
  return absl::OkStatus();
}

absl::Status UnmountOverlay(const std::string& container_dir) {
  std::string rootfs = OverlayPathsFor(container_dir).rootfs;
  if (umount2(rootfs.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("umount ", rootfs));
  }
  // Idmapped layers still staged (a crash in MountOverlay): they are image layers, so they must
  // be detached before anyone removes the directory.
  const std::string staging = absl::StrCat(container_dir, "/idmap");
  linux::UniqueFd staging_fd(open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!staging_fd) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", staging));
  }
  auto staged = ListDirAt(staging_fd.get(), staging);
  if (!staged.ok()) return staged.status();
  for (const std::string& name : *staged) {
    const std::string layer = absl::StrCat(staging, "/", name);
    umount2(layer.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    if (rmdir(layer.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", layer));
    }
  }
  if (rmdir(staging.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", staging));
  }
  return absl::OkStatus();
}

}  // namespace kapsel::store
