#include "daemon/shim/mount_helper.h"

#include <fcntl.h>
#include <getopt.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/mount_report.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::shim {
namespace {

using linux::UniqueFd;

// Every lookup below stays inside the container's root: absolute symlinks and ".." are resolved
// against it, and /proc magic links are refused (openat2(2), Linux 5.6).
constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

struct HelperArgs {
  bool add = false;
  pid_t pid = 0;
  int pidfd = -1;
  int source_fd = -1;
  int status_fd = -1;
  std::string target;  // absolute, normalized
  bool check_identity = false;
  dev_t expect_dev = 0;
  ino_t expect_ino = 0;
};

// The container's root, entered: /proc/PID/root is opened while the host's /proc is still in
// view, then this process joins the container's mount namespace, where move_mount and umount2
// accept the container's mounts (both refuse mounts of another namespace).
absl::Status EnterContainer(const HelperArgs& args, UniqueFd* root) {
  const std::string root_path = absl::StrCat("/proc/", args.pid, "/root");
  root->Reset(open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!*root) return linux::ErrnoStatus(errno, absl::StrCat("open ", root_path));
  // The pidfd names the container's init; while it is alive, PID is that process, so the root
  // opened above is the container's and not a reused pid's.
  if (auto s = linux::PidfdSendSignal(args.pidfd, 0); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the container's init (pid ", args.pid, ") is gone: ", s.message()));
  }
  // setns(2) with a pidfd: Linux 5.8.
  if (setns(args.pidfd, CLONE_NEWNS) != 0) {
    return linux::ErrnoStatus(errno, absl::StrCat("setns mnt of pid ", args.pid));
  }
  return absl::OkStatus();
}

std::string Join(const std::vector<std::string>& parts, size_t n) {
  return absl::StrJoin(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(n), "/");
}

absl::StatusOr<UniqueFd> OpenDirInRoot(int root_fd, const std::string& rel) {
  if (rel.empty()) {
    UniqueFd fd(fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!fd) return linux::ErrnoStatus(errno, "dup root");
    return fd;
  }
  return linux::Openat2(root_fd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kInRoot);
}

// Refuses a directory or target on procfs, sysfs or a cgroup tree: an intermediate symlink can
// lead there even when the path given does not.
absl::Status RefuseKernelFs(int fd, const std::string& path) {
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return linux::ErrnoStatus(errno, "fstatfs " + path);
  switch (static_cast<unsigned long>(fs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot mount over ", path, ": it resolves into /proc, /sys or a cgroup tree"));
    default:
      return absl::OkStatus();
  }
}

// Refuses a resolved target on a kernel filesystem (RefuseKernelFs), or that is the container's
// root itself.
absl::Status CheckTarget(int root_fd, int target_fd, const std::string& target) {
  if (auto s = RefuseKernelFs(target_fd, target); !s.ok()) return s;
  struct statx t = {}, r = {};
  if (statx(target_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &t) != 0 ||
      statx(root_fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &r) != 0) {
    return linux::ErrnoStatus(errno, "statx " + target);
  }
  if (t.stx_mnt_id == r.stx_mnt_id && t.stx_ino == r.stx_ino &&
      t.stx_dev_major == r.stx_dev_major && t.stx_dev_minor == r.stx_dev_minor) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot mount over ", target, ": it resolves to the container's root"));
  }
  return absl::OkStatus();
}

// Creates what is missing of `parts` below the root (directories, and the last one as a file
// when the source is not a directory), each parent resolved inside the root. What was created is
// appended to `created`, for the rollback.
absl::Status MakeTarget(int root_fd, const std::vector<std::string>& parts, bool source_is_dir,
                        std::vector<std::pair<std::string, bool>>* created) {
  for (size_t i = 0; i < parts.size(); ++i) {
    auto parent = OpenDirInRoot(root_fd, Join(parts, i));
    if (!parent.ok()) return parent.status();
    const std::string& name = parts[i];
    const std::string rel = Join(parts, i + 1);
    if (auto s = RefuseKernelFs(parent->get(), "/" + rel); !s.ok()) return s;
    const bool last = i + 1 == parts.size();
    if (!last || source_is_dir) {
      if (mkdirat(parent->get(), name.c_str(), 0755) == 0) {
        created->emplace_back(rel, true);
      } else if (errno != EEXIST) {
        return linux::ErrnoStatus(errno, "mkdir /" + rel + " in the container");
      }
    } else {
      // O_EXCL: an existing entry, a symlink included, is left alone (and checked later).
      UniqueFd fd(openat(parent->get(), name.c_str(),
                         O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (fd) {
        created->emplace_back(rel, false);
      } else if (errno != EEXIST) {
        return linux::ErrnoStatus(errno, "create /" + rel + " in the container");
      }
    }
  }
  return absl::OkStatus();
}

void RemoveCreated(int root_fd, const std::vector<std::pair<std::string, bool>>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    std::vector<std::string> parts = absl::StrSplit(it->first, '/');
    auto parent = OpenDirInRoot(root_fd, Join(parts, parts.size() - 1));
    if (!parent.ok()) continue;
    (void)unlinkat(parent->get(), parts.back().c_str(), it->second ? AT_REMOVEDIR : 0);
  }
}

absl::Status Add(const HelperArgs& args) {
  struct stat src;
  if (fstat(args.source_fd, &src) != 0) return linux::ErrnoStatus(errno, "fstat source");
  const bool source_is_dir = S_ISDIR(src.st_mode);
  UniqueFd root;
  if (auto s = EnterContainer(args, &root); !s.ok()) return s;

  std::vector<std::string> parts = absl::StrSplit(args.target, '/', absl::SkipEmpty());
  if (parts.empty()) return absl::InvalidArgumentError("cannot mount over / of the container");
  std::vector<std::pair<std::string, bool>> created;
  absl::Cleanup rollback = [&] { RemoveCreated(root.get(), created); };
  if (auto s = MakeTarget(root.get(), parts, source_is_dir, &created); !s.ok()) return s;

  // O_NOFOLLOW: a symlink at the target itself is refused rather than followed, even inside the
  // root (one to "/" or ".." would put the mount over the container's root).
  const std::string rel = Join(parts, parts.size());
  auto target = linux::Openat2(root.get(), rel, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, kInRoot);
  if (!target.ok()) return target.status();
  struct stat st;
  if (fstat(target->get(), &st) != 0) return linux::ErrnoStatus(errno, "fstat " + args.target);
  if (S_ISLNK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot mount over ", args.target,
                                                   ": it is a symbolic link in the container"));
  }
  if (source_is_dir != S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot mount ", source_is_dir ? "a directory" : "a file", " over ", args.target,
        ": it is ", S_ISDIR(st.st_mode) ? "a directory" : "not a directory", " in the container"));
  }
  if (auto s = CheckTarget(root.get(), target->get(), args.target); !s.ok()) return s;
  // move_mount(2), Linux 5.2: attaches the detached tree on the directory the fd names, with no
  // path lookup that the container could redirect.
  if (move_mount(args.source_fd, "", target->get(), "",
                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    return linux::ErrnoStatus(errno, "move_mount to " + args.target + " in the container");
  }
  std::move(rollback).Cancel();
  return absl::OkStatus();
}

absl::StatusOr<bool> Remove(const HelperArgs& args) {
  UniqueFd root;
  if (auto s = EnterContainer(args, &root); !s.ok()) return s;
  std::vector<std::string> parts = absl::StrSplit(args.target, '/', absl::SkipEmpty());
  {
    // An open fd, even an O_PATH one, keeps the mount busy: the checks go first, with the fd
    // closed again before the umount.
    auto target = linux::Openat2(root.get(), Join(parts, parts.size()),
                                 O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, kInRoot);
    if (!target.ok()) {
      if (absl::IsNotFound(target.status())) {
        return absl::NotFoundError(absl::StrCat(args.target, " is not mounted in the container"));
      }
      return target.status();
    }
    if (args.check_identity) {
      struct stat st;
      if (fstat(target->get(), &st) != 0) return linux::ErrnoStatus(errno, "fstat " + args.target);
      if (st.st_dev != args.expect_dev || st.st_ino != args.expect_ino) {
        return absl::NotFoundError(absl::StrCat(
            args.target, " in the container is not the host path that was mounted there"));
      }
    }
  }
  // umount2 takes a path only. Rooted in the container's root, its lookup cannot leave it;
  // UMOUNT_NOFOLLOW: a symlink at the target is not followed.
  if (fchdir(root.get()) != 0 || chroot(".") != 0 || chdir("/") != 0) {
    return linux::ErrnoStatus(errno, "chroot into the container's root");
  }
  if (umount2(args.target.c_str(), UMOUNT_NOFOLLOW) == 0) return false;
  if (errno == EBUSY && umount2(args.target.c_str(), UMOUNT_NOFOLLOW | MNT_DETACH) == 0) {
    return true;
  }
  if (errno == EINVAL) {
    return absl::NotFoundError(absl::StrCat(args.target, " is not mounted in the container"));
  }
  return linux::ErrnoStatus(errno, "umount " + args.target + " in the container");
}

void Usage() {
  fprintf(stderr,
          "usage: kapsel-shim mount-add --pid PID --pidfd N --source-fd N --target PATH "
          "--status-fd N\n"
          "       kapsel-shim mount-rm --pid PID --pidfd N --target PATH --status-fd N "
          "[--expect-dev DEV --expect-ino INO]\n");
}

}  // namespace

int MountHelperMain(int argc, char** argv) {
  HelperArgs args;
  args.add = strcmp(argv[0], "mount-add") == 0;
  static const struct option kLong[] = {{"pid", required_argument, nullptr, 'p'},
                                        {"pidfd", required_argument, nullptr, 'P'},
                                        {"source-fd", required_argument, nullptr, 's'},
                                        {"target", required_argument, nullptr, 't'},
                                        {"status-fd", required_argument, nullptr, 'f'},
                                        {"expect-dev", required_argument, nullptr, 'd'},
                                        {"expect-ino", required_argument, nullptr, 'i'},
                                        {nullptr, 0, nullptr, 0}};
  bool ok = true;
  uint64_t dev = 0, ino = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    switch (c) {
      case 'p':
        ok &= absl::SimpleAtoi(optarg, &args.pid);
        break;
      case 'P':
        ok &= absl::SimpleAtoi(optarg, &args.pidfd);
        break;
      case 's':
        ok &= absl::SimpleAtoi(optarg, &args.source_fd);
        break;
      case 't':
        args.target = optarg;
        break;
      case 'f':
        ok &= absl::SimpleAtoi(optarg, &args.status_fd);
        break;
      case 'd':
        ok &= absl::SimpleAtoi(optarg, &dev);
        args.check_identity = true;
        break;
      case 'i':
        ok &= absl::SimpleAtoi(optarg, &ino);
        args.check_identity = true;
        break;
      default:
        ok = false;
    }
  }
  args.expect_dev = static_cast<dev_t>(dev);
  args.expect_ino = static_cast<ino_t>(ino);
  if (!ok || args.pid <= 0 || args.pidfd < 0 || args.status_fd < 0 || args.target.empty() ||
      args.target.front() != '/' || (args.add && args.source_fd < 0)) {
    Usage();
    return 2;
  }
  MountReport report;
  if (args.add) {
    report.status = Add(args);
  } else {
    absl::StatusOr<bool> lazy = Remove(args);
    report.status = lazy.status();
    report.lazy = lazy.ok() && *lazy;
  }
  std::string text = EncodeMountReport(report);
  ssize_t unused = write(args.status_fd, text.data(), text.size());
  (void)unused;
  close(args.status_fd);
  return report.status.ok() ? 0 : 1;
}

}  // namespace kapsel::shim
