// The container's init between clone3 and execve. This code runs in a fork-style child of the
// single-threaded shim: it may only make system calls and read the plan. No heap, no locks, no
// logging; the first failure is written as a ChildError to the close-on-exec error pipe, which
// the parent turns into a Status naming the step (sandbox2 does the same with its raw logging).

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "runtime/child_plan.h"
#include "runtime/linux/syscalls.h"

namespace kapsel::runtime {
namespace {

constexpr uint64_t kResolveInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

[[noreturn]] void Fail(const ChildPlan& plan, ChildStep step, int index, int err) {
  ChildError e;
  e.step = static_cast<int32_t>(step);
  e.index = index;
  e.err = err;
  ssize_t unused = write(plan.error_fd, &e, sizeof(e));
  (void)unused;
  _exit(127);
}

// Writes "/proc/self/fd/<fd>" into buf without allocating.
const char* FdPath(char (&buf)[32], int fd) {
  static const char kPrefix[] = "/proc/self/fd/";
  memcpy(buf, kPrefix, sizeof(kPrefix) - 1);
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0);
  size_t pos = sizeof(kPrefix) - 1;
  while (n > 0) buf[pos++] = digits[--n];
  buf[pos] = '\0';
  return buf;
}

// Creates every directory of `rel` (relative to root_fd), resolving each parent inside the root so
// that a symlink planted in the rootfs cannot lead outside it. Returns 0 or an errno.
int MkdirAllInRoot(int root_fd, const char* rel, bool last_is_file) {
  char path[4096];
  size_t len = strlen(rel);
  if (len >= sizeof(path)) return ENAMETOOLONG;
  memcpy(path, rel, len + 1);
  for (size_t i = 0; i <= len; ++i) {
    if (path[i] != '/' && path[i] != '\0') continue;
    if (i == 0) continue;
    bool last = path[i] == '\0';
    char saved = path[i];
    path[i] = '\0';
    // Split into parent and name.
    char* slash = strrchr(path, '/');
    int parent_fd;
    const char* name;
    if (slash == nullptr) {
      parent_fd = dup(root_fd);
      name = path;
    } else {
      *slash = '\0';
      parent_fd =
          linux::RawOpenat2(root_fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveInRoot);
      *slash = '/';
      name = slash + 1;
    }
    if (parent_fd < 0) return errno;
    int rc;
    if (last && last_is_file) {
      int fd =
          linux::RawOpenat2(parent_fd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644, kResolveInRoot);
      rc = fd < 0 ? -1 : 0;
      if (fd >= 0) close(fd);
    } else {
      rc = mkdirat(parent_fd, name, 0755);
    }
    int err = errno;
    close(parent_fd);
    if (rc != 0 && err != EEXIST) return err;
    path[i] = saved;
  }
  return 0;
}

void DoMounts(const ChildPlan& plan, int root_fd) {
  char buf[32];
  for (size_t i = 0; i < plan.mounts.size(); ++i) {
    const MountStep& m = plan.mounts[i];
    const int idx = static_cast<int>(i);
    if (!m.remount_only) {
      if (int err = MkdirAllInRoot(root_fd, m.target.c_str(), m.file_target); err != 0) {
        Fail(plan, ChildStep::kMkdir, idx, err);
      }
    }
    int target_fd =
        linux::RawOpenat2(root_fd, m.target.c_str(), O_PATH | O_CLOEXEC, 0, kResolveInRoot);
    if (target_fd < 0) Fail(plan, ChildStep::kOpenTarget, idx, errno);
    const char* target = FdPath(buf, target_fd);
    if (!m.remount_only) {
      const char* source = m.source.empty() ? nullptr : m.source.c_str();
      const char* fstype = m.fstype.empty() ? nullptr : m.fstype.c_str();
      const void* data = m.data.empty() ? nullptr : m.data.c_str();
      if (mount(source, target, fstype, m.flags, data) != 0)
        Fail(plan, ChildStep::kMount, idx, errno);
      // The fd still names the covered directory: reopen it to reach the new mount.
      close(target_fd);
      target_fd =
          linux::RawOpenat2(root_fd, m.target.c_str(), O_PATH | O_CLOEXEC, 0, kResolveInRoot);
      if (target_fd < 0) Fail(plan, ChildStep::kOpenTarget, idx, errno);
      target = FdPath(buf, target_fd);
    }
    if (m.remount_flags != 0) {
      const void* data = (m.remount_flags & MS_BIND) || m.data.empty() ? nullptr : m.data.c_str();
      if (mount(nullptr, target, nullptr, m.remount_flags, data) != 0) {
        Fail(plan, ChildStep::kRemount, idx, errno);
      }
    }
    if (m.recursive_read_only) {
      struct mount_attr attr = {};
      attr.attr_set = MOUNT_ATTR_RDONLY;
      if (mount_setattr(target_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0) {
        Fail(plan, ChildStep::kRecursiveReadOnly, idx, errno);
      }
    }
    if (m.propagation != 0 && mount(nullptr, target, nullptr, m.propagation, nullptr) != 0) {
      Fail(plan, ChildStep::kMount, idx, errno);
    }
    close(target_fd);
  }
}

void DoDevices(const ChildPlan& plan, int root_fd) {
  char buf[32];
  char src[32];
  for (size_t i = 0; i < plan.devices.size(); ++i) {
    const DeviceStep& d = plan.devices[i];
    const int idx = static_cast<int>(i);
    // Parent directories (e.g. /dev/net) first; the node itself is made below.
    const char* slash = strrchr(d.target.c_str(), '/');
    if (slash != nullptr) {
      char parent[4096];
      size_t n = static_cast<size_t>(slash - d.target.c_str());
      if (n >= sizeof(parent)) Fail(plan, ChildStep::kDevice, idx, ENAMETOOLONG);
      memcpy(parent, d.target.c_str(), n);
      parent[n] = '\0';
      if (int err = MkdirAllInRoot(root_fd, parent, false); err != 0)
        Fail(plan, ChildStep::kMkdir, idx, err);
    }
    int parent_fd = root_fd;
    const char* name = d.target.c_str();
    int owned = -1;
    if (slash != nullptr) {
      char parent[4096];
      size_t n = static_cast<size_t>(slash - d.target.c_str());
      memcpy(parent, d.target.c_str(), n);
      parent[n] = '\0';
      owned =
          linux::RawOpenat2(root_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveInRoot);
      if (owned < 0) Fail(plan, ChildStep::kDevice, idx, errno);
      parent_fd = owned;
      name = slash + 1;
    }
    unlinkat(parent_fd, name, 0);
    if (mknodat(parent_fd, name, d.mode, d.dev) == 0) {
      if (fchownat(parent_fd, name, d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0) {
        Fail(plan, ChildStep::kDevice, idx, errno);
      }
      // mknod applies the umask; the spec's mode is meant exactly.
      int fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) Fail(plan, ChildStep::kDevice, idx, errno);
      if (fchmodat(parent_fd, name, d.mode & 07777, 0) != 0)
        Fail(plan, ChildStep::kDevice, idx, errno);
      close(fd);
    } else if (errno == EPERM && !d.host_path.empty()) {
      // In a user namespace mknod is refused: bind the host's node onto an empty file instead.
      int fd = openat(parent_fd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0000);
      if (fd < 0) Fail(plan, ChildStep::kDevice, idx, errno);
      close(fd);
      fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) Fail(plan, ChildStep::kDevice, idx, errno);
      int host_fd = open(d.host_path.c_str(), O_PATH | O_CLOEXEC);
      if (host_fd < 0) Fail(plan, ChildStep::kDevice, idx, errno);
      if (mount(FdPath(src, host_fd), FdPath(buf, fd), nullptr, MS_BIND, nullptr) != 0) {
        Fail(plan, ChildStep::kDevice, idx, errno);
      }
      close(host_fd);
      close(fd);
    } else {
      Fail(plan, ChildStep::kDevice, idx, errno);
    }
    if (owned >= 0) close(owned);
  }
  for (size_t i = 0; i < plan.symlinks.size(); ++i) {
    const SymlinkStep& s = plan.symlinks[i];
    const char* slash = strrchr(s.linkpath.c_str(), '/');
    int parent_fd = root_fd;
    const char* name = s.linkpath.c_str();
    int owned = -1;
    if (slash != nullptr) {
      char parent[4096];
      size_t n = static_cast<size_t>(slash - s.linkpath.c_str());
      if (n >= sizeof(parent)) Fail(plan, ChildStep::kSymlink, static_cast<int>(i), ENAMETOOLONG);
      memcpy(parent, s.linkpath.c_str(), n);
      parent[n] = '\0';
      owned =
          linux::RawOpenat2(root_fd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolveInRoot);
      if (owned < 0) Fail(plan, ChildStep::kSymlink, static_cast<int>(i), errno);
      parent_fd = owned;
      name = slash + 1;
    }
    if (symlinkat(s.target.c_str(), parent_fd, name) != 0 && errno != EEXIST) {
      Fail(plan, ChildStep::kSymlink, static_cast<int>(i), errno);
    }
    if (owned >= 0) close(owned);
  }
}

// Switches the root the way crun's do_pivot does: with the new root as cwd, pivot_root(".", ".")
// stacks the old root on top of the new one at "/"; making it a slave keeps the unmount from
// propagating to the host, and a lazy unmount then drops it. No directory for the old root is
// needed inside the rootfs, so a read-only rootfs works too.
//
// pivot_root(2) refuses (EINVAL) when the current root is the initramfs (rootfs), which cannot be
// unmounted: there, as runc's --no-pivot does, the new root is moved over / and chrooted into.
// That leaves the initramfs reachable underneath, so it is only a fallback.
void PivotRoot(const ChildPlan& plan, int root_fd) {
  if (fchdir(root_fd) != 0) Fail(plan, ChildStep::kPivotRoot, -1, errno);
  if (linux::RawPivotRoot(".", ".") != 0) {
    if (errno != EINVAL) Fail(plan, ChildStep::kPivotRoot, -1, errno);
    if (mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
      Fail(plan, ChildStep::kPivotRoot, -1, errno);
    if (chroot(".") != 0) Fail(plan, ChildStep::kPivotRoot, -1, errno);
    if (chdir("/") != 0) Fail(plan, ChildStep::kPivotRoot, -1, errno);
    return;
  }
  if (mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) {
    Fail(plan, ChildStep::kPivotRoot, -1, errno);
  }
  if (umount2(".", MNT_DETACH) != 0) Fail(plan, ChildStep::kPivotRoot, -1, errno);
  if (chdir("/") != 0) Fail(plan, ChildStep::kPivotRoot, -1, errno);
}

void WriteAll(const ChildPlan& plan, ChildStep step, int index, const char* path,
              const char* value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) Fail(plan, step, index, errno);
  size_t len = strlen(value);
  if (write(fd, value, len) != static_cast<ssize_t>(len)) Fail(plan, step, index, errno);
  close(fd);
}

void MaskAndProtect(const ChildPlan& plan) {
  char buf[32];
  char nbuf[32];
  // Mask files with /dev/null, verified to be the real character device 1:3, so that a rootfs
  // that plants a symlink or a regular file at /dev/null cannot unmask anything (CVE-2025-31133).
  int null_fd = -1;
  for (size_t i = 0; i < plan.masked_paths.size(); ++i) {
    const int idx = static_cast<int>(i);
    int fd = open(plan.masked_paths[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      Fail(plan, ChildStep::kMaskPath, idx, errno);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) Fail(plan, ChildStep::kMaskPath, idx, errno);
    if (S_ISDIR(st.st_mode)) {
      if (mount("tmpfs", FdPath(buf, fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=0,mode=0755") != 0) {
        Fail(plan, ChildStep::kMaskPath, idx, errno);
      }
    } else {
      if (null_fd < 0) {
        null_fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat nst;
        if (null_fd < 0 || fstat(null_fd, &nst) != 0) Fail(plan, ChildStep::kMaskPath, idx, errno);
        if (!S_ISCHR(nst.st_mode) || major(nst.st_rdev) != 1 || minor(nst.st_rdev) != 3) {
          Fail(plan, ChildStep::kMaskPath, idx, EPERM);
        }
      }
      if (mount(FdPath(nbuf, null_fd), FdPath(buf, fd), nullptr, MS_BIND, nullptr) != 0) {
        Fail(plan, ChildStep::kMaskPath, idx, errno);
      }
    }
    close(fd);
  }
  if (null_fd >= 0) close(null_fd);
  for (size_t i = 0; i < plan.readonly_paths.size(); ++i) {
    const int idx = static_cast<int>(i);
    const char* path = plan.readonly_paths[i].c_str();
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      Fail(plan, ChildStep::kReadonlyPath, idx, errno);
    }
    const char* p = FdPath(buf, fd);
    if (mount(p, p, nullptr, MS_BIND | MS_REC, nullptr) != 0)
      Fail(plan, ChildStep::kReadonlyPath, idx, errno);
    close(fd);
    fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) Fail(plan, ChildStep::kReadonlyPath, idx, errno);
    p = FdPath(buf, fd);
    if (mount(nullptr, p, nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
      Fail(plan, ChildStep::kReadonlyPath, idx, errno);
    }
    close(fd);
  }
}

void SetCapabilities(const ChildPlan& plan) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v & 0xffffffffu); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  data[0].effective = lo(plan.caps.effective);
  data[1].effective = hi(plan.caps.effective);
  data[0].permitted = lo(plan.caps.permitted);
  data[1].permitted = hi(plan.caps.permitted);
  data[0].inheritable = lo(plan.caps.inheritable);
  data[1].inheritable = hi(plan.caps.inheritable);
  if (syscall(SYS_capset, &header, data) != 0) Fail(plan, ChildStep::kCapset, -1, errno);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    Fail(plan, ChildStep::kAmbient, -1, errno);
  }
  for (int cap = 0; cap <= plan.last_cap && cap < 64; ++cap) {
    if ((plan.caps.ambient >> cap) & 1) {
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
        Fail(plan, ChildStep::kAmbient, cap, errno);
    }
  }
}

// seccomp(2), Linux 3.17 (SECCOMP_FILTER_FLAG_LOG: 4.14, SPEC_ALLOW: 4.17). The program was
// compiled by libseccomp in the parent; here it is only handed to the kernel.
void LoadSeccomp(const ChildPlan& plan) {
  struct sock_fprog prog = {};
  prog.len = static_cast<unsigned short>(plan.seccomp_program.size());
  prog.filter = const_cast<struct sock_filter*>(plan.seccomp_program.data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, plan.seccomp_flags, &prog) != 0)
    Fail(plan, ChildStep::kSeccomp, -1, errno);
}

}  // namespace

void RunChild(const ChildPlan& plan) {
  // Wait until the parent has placed us in our cgroup and written any uid/gid maps. EOF means the
  // parent died: give up quietly. An exec into a running container has nothing to wait for: its
  // parent joined the cgroup and the namespaces before forking (no sync fd).
  if (plan.sync_fd >= 0) {
    char go = 0;
    ssize_t got;
    do {
      got = read(plan.sync_fd, &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(127);
    close(plan.sync_fd);
  }

  // Before the ids change: as the root of a user namespace we would no longer own our /proc files
  // (the child is not dumpable, so they stay the host root's).
  if (!plan.oom_score_adj.empty()) {
    WriteAll(plan, ChildStep::kOomScoreAdj, -1, "/proc/self/oom_score_adj",
             plan.oom_score_adj.c_str());
  }
  for (size_t i = 0; i < plan.setns_fds.size(); ++i) {
    if (setns(plan.setns_fds[i], plan.setns_types[i]) != 0)
      Fail(plan, ChildStep::kSetns, static_cast<int>(i), errno);
    close(plan.setns_fds[i]);
  }
  if (plan.become_userns_root) {
    // The maps are written; become root of the user namespace before anything else.
    if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
      Fail(plan, ChildStep::kSetUserIds, -1, errno);
  }
  // Unshared only now, after the parent moved us into the container's cgroup, so that the
  // namespace's root is that cgroup and not the shim's.
  if (plan.new_cgroup_ns && unshare(CLONE_NEWCGROUP) != 0)
    Fail(plan, ChildStep::kUnshareCgroup, -1, errno);

  if (dup2(plan.stdin_fd, 0) < 0 || dup2(plan.stdout_fd, 1) < 0 || dup2(plan.stderr_fd, 2) < 0) {
    Fail(plan, ChildStep::kStdio, -1, errno);
  }
  // A terminal needs a session of its own to be its controlling terminal (credentials(7)).
  if (plan.terminal && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) != 0)) {
    Fail(plan, ChildStep::kTerminal, -1, errno);
  }

  if (plan.new_mount_ns) {
    // Nothing mounted below must propagate back to the host.
    if (mount(nullptr, "/", nullptr, MS_REC | plan.root_propagation, nullptr) != 0) {
      Fail(plan, ChildStep::kRootPropagation, -1, errno);
    }
    // pivot_root needs the new root to be a mount point; binding it onto itself makes sure.
    if (mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
      Fail(plan, ChildStep::kBindRoot, -1, errno);
    }
    int root_fd = open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) Fail(plan, ChildStep::kOpenRoot, -1, errno);
    DoMounts(plan, root_fd);
    DoDevices(plan, root_fd);
    PivotRoot(plan, root_fd);
    close(root_fd);
    for (size_t i = 0; i < plan.sysctls.size(); ++i) {
      WriteAll(plan, ChildStep::kSysctl, static_cast<int>(i), plan.sysctls[i].path.c_str(),
               plan.sysctls[i].value.c_str());
    }
    MaskAndProtect(plan);
    if (plan.readonly_root &&
        mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      Fail(plan, ChildStep::kReadonlyRoot, -1, errno);
    }
  }

  if (plan.set_hostname && sethostname(plan.hostname.data(), plan.hostname.size()) != 0) {
    Fail(plan, ChildStep::kHostname, -1, errno);
  }
  if (plan.set_domainname && setdomainname(plan.domainname.data(), plan.domainname.size()) != 0) {
    Fail(plan, ChildStep::kDomainname, -1, errno);
  }
  for (size_t i = 0; i < plan.rlimits.size(); ++i) {
    struct rlimit rl = {plan.rlimits[i].soft, plan.rlimits[i].hard};
    if (setrlimit(static_cast<__rlimit_resource>(plan.rlimits[i].resource), &rl) != 0) {
      Fail(plan, ChildStep::kRlimit, static_cast<int>(i), errno);
    }
  }

  // The working directory is entered while still root, and verified to be inside the new root: an
  // fd of the host leaking into the child could otherwise leave cwd outside it (CVE-2024-21626).
  if (chdir(plan.cwd.c_str()) != 0) Fail(plan, ChildStep::kChdir, -1, errno);
  {
    char cwd[4096];
    if (syscall(SYS_getcwd, cwd, sizeof(cwd)) < 0 || cwd[0] != '/')
      Fail(plan, ChildStep::kCwdOutside, -1, ENOENT);
  }

  // Without no_new_privs, seccomp(2) needs CAP_SYS_ADMIN, which the steps below may drop: the
  // filter goes in now, while the child is still root with every capability, as runc does. The
  // filter then also judges the setgroups/setresuid/capset/prctl/close_range/execve calls below;
  // a profile that refuses them fails the start at that step.
  if (plan.seccomp_early && !plan.seccomp_program.empty()) LoadSeccomp(plan);

  if (plan.set_caps) {
    for (int cap = 0; cap <= plan.last_cap && cap < 64; ++cap) {
      if (!((plan.caps.bounding >> cap) & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
          errno != EINVAL) {
        Fail(plan, ChildStep::kCapBounding, cap, errno);
      }
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) Fail(plan, ChildStep::kKeepCaps, -1, errno);
  }
  if (setgroups(plan.groups.size(), plan.groups.data()) != 0)
    Fail(plan, ChildStep::kSetgroups, -1, errno);
  if (setresgid(plan.gid, plan.gid, plan.gid) != 0) Fail(plan, ChildStep::kSetgid, -1, errno);
  if (setresuid(plan.uid, plan.uid, plan.uid) != 0) Fail(plan, ChildStep::kSetuid, -1, errno);
  if (plan.set_caps) SetCapabilities(plan);
  if (plan.set_umask) umask(plan.umask);
  if (plan.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    Fail(plan, ChildStep::kNoNewPrivs, -1, errno);

  // Nothing of the shim but stdio may cross execve.
  if (linux::RawCloseRange(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    Fail(plan, ChildStep::kCloseFds, -1, errno);

  // With no_new_privs the filter is the very last step before execve, so that it judges nothing
  // of the setup, only the container's process. If the filter refuses write(2), a failing execve
  // cannot be reported on the error pipe; the child still exits 127.
  if (!plan.seccomp_early && !plan.seccomp_program.empty()) LoadSeccomp(plan);

  int exec_err = ENOENT;
  bool saw_eacces = false;
  for (const std::string& candidate : plan.exec_candidates) {
    execve(candidate.c_str(), plan.argv.data(), plan.envp.data());
    exec_err = errno;
    if (exec_err == EACCES) saw_eacces = true;
    if (exec_err != ENOENT && exec_err != ENOTDIR && exec_err != EACCES) break;
  }
  if (saw_eacces && (exec_err == ENOENT || exec_err == ENOTDIR)) exec_err = EACCES;
  Fail(plan, ChildStep::kExec, -1, exec_err);
}

}  // namespace kapsel::runtime
