#include "store/overlay.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

absl::Status MountOverlay(const std::string& container_dir,
                          const std::vector<std::string>& lowerdirs) {
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
  std::string data = absl::StrCat("lowerdir=", absl::StrJoin(lowerdirs, ":"),
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
  return absl::OkStatus();
}

}  // namespace kapsel::store
