#include "runtime/network/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/userns.h"

namespace kapsel::network {
namespace {

using linux::ErrnoStatus;
using linux::UniqueFd;

// Runs `fn` on a fresh thread and waits for it. The thread ends after `fn`, so a namespace it
// joined or unshared dies with it and never leaks into the daemon's other threads.
absl::Status OnDedicatedThread(const std::function<absl::Status()>& fn) {
  absl::Status status;
  std::thread thread([&] { status = fn(); });
  thread.join();
  return status;
}

// Sets IFF_UP on `name` in the calling thread's network namespace. SIOCSIFFLAGS on an AF_INET
// datagram socket is the smallest way to do this for `lo` (netdevice(7)).
absl::Status BringUp(const char* name) {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return ErrnoStatus(errno, "socket AF_INET");
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) {
    return ErrnoStatus(errno, absl::StrCat("ioctl SIOCGIFFLAGS ", name));
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) {
    return ErrnoStatus(errno, absl::StrCat("ioctl SIOCSIFFLAGS ", name));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CreateNetns(const std::string& path, int user_ns_fd) {
  if (user_ns_fd >= 0) {
    absl::StatusOr<UniqueFd> ns = linux::NewNamespaceOwnedBy(user_ns_fd, CLONE_NEWNET);
    if (!ns.ok()) return ns.status();
    if (absl::Status s = linux::BindNamespace(ns->get(), path); !s.ok()) {
      if (s.code() == absl::StatusCode::kAlreadyExists) {
        return absl::AlreadyExistsError(
            absl::StrCat("network namespace ", path, " already exists"));
      }
      return s;
    }
    absl::Status up = RunInNetns(path, [] { return BringUp("lo"); });
    if (!up.ok()) {
      (void)linux::UnbindNamespace(path);
      return absl::Status(up.code(),
                          absl::StrCat("create network namespace ", path, ": ", up.message()));
    }
    return absl::OkStatus();
  }
  // The mount point: an empty file, as nsfs files are bind-mounted onto files.
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!file) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("network namespace ", path, " already exists"));
    }
    return ErrnoStatus(errno, absl::StrCat("create ", path));
  }
  file.Close();
  bool mounted = false;
  absl::Cleanup undo = [&] {
    if (mounted) umount2(path.c_str(), MNT_DETACH);
    unlink(path.c_str());
  };
  absl::Status status = OnDedicatedThread([&]() -> absl::Status {
    if (unshare(CLONE_NEWNET) < 0) return ErrnoStatus(errno, "unshare CLONE_NEWNET");
    // /proc/thread-self, not /proc/self: only this thread is in the new namespace.
    if (mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) < 0) {
      return ErrnoStatus(errno, absl::StrCat("mount --bind /proc/thread-self/ns/net ", path));
    }
    mounted = true;
    return BringUp("lo");
  });
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("create network namespace ", path, ": ", status.message()));
  }
  std::move(undo).Cancel();
  return absl::OkStatus();
}

absl::Status RemoveNetns(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
      errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("umount ", path));
  }
  if (unlink(path.c_str()) < 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

bool IsNetnsMount(const std::string& path) { return linux::IsNamespaceMount(path); }

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  struct statfs fs = {};
  if (fstatfs(fd.get(), &fs) < 0) return ErrnoStatus(errno, absl::StrCat("fstatfs ", path));
  if (fs.f_type != NSFS_MAGIC) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a network namespace"));
  }
  return fd;
}

absl::Status RunInNetns(const std::string& path, const std::function<absl::Status()>& fn) {
  absl::StatusOr<UniqueFd> fd = OpenNetns(path);
  if (!fd.ok()) return fd.status();
  return OnDedicatedThread([&]() -> absl::Status {
    if (setns(fd->get(), CLONE_NEWNET) < 0) {
      return ErrnoStatus(errno, absl::StrCat("setns ", path));
    }
    return fn();
  });
}

}  // namespace kapsel::network
