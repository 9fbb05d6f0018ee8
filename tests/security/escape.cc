// The escape suite: run as root inside a container, it tries the container escapes and privilege
// abuses of the last decade one by one and prints one line per attack:
//
//   escape: <name>: blocked (<why>)
//   escape: <name>: SUCCEEDED (<what happened>)
//
// then a summary line, and exits 1 when any attack succeeded. tests/security/escape_test.sh runs it
// in default, hardened and --privileged containers and compares each line with what that
// configuration must allow, so the suite can tell a confined container from a privileged one.
//
// Every probe is harmless even where it succeeds: writable kernel files are opened and closed
// without a write, reboot(2) and kexec_load(2) get arguments the kernel refuses right after the
// permission check, keys and BPF maps die with the process, mounts happen in the container's own
// mount namespace and are undone. Static, no allocation tricks: it runs in a busybox rootfs.
//
// Environment (set by the test): KAPSEL_ESCAPE_HOST_PID, a pid of the host outside the container;
// KAPSEL_ESCAPE_HOST_PATH, a path that exists on the host but not in the rootfs;
// KAPSEL_ESCAPE_VOLUME, a volume mount point whose target was a symlink planted to leave the
// rootfs.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

struct Outcome {
  bool succeeded = false;
  std::string detail;
};

Outcome Blocked(const std::string& why) { return {false, why}; }

// Where the mount attacks mount: made by the program, so that a refusal is the kernel's answer
// to the mount and not a missing directory. /dev/shm is a writable tmpfs in every container, also
// with a read-only root.
constexpr char kMountPoint[] = "/dev/shm/kapsel-escape-mnt";
const char* MountPoint() {
  mkdir(kMountPoint, 0700);
  return kMountPoint;
}
Outcome Succeeded(const std::string& what) { return {true, what}; }

std::string ErrnoName(int err) {
  switch (err) {
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case EROFS:
      return "EROFS";
    case ENOSYS:
      return "ENOSYS";
    case ENOENT:
      return "ENOENT";
    case ESRCH:
      return "ESRCH";
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case EBUSY:
      return "EBUSY";
    case ETXTBSY:
      return "ETXTBSY";
    case EFAULT:
      return "EFAULT";
    case ESTALE:
      return "ESTALE";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    default:
      return "errno " + std::to_string(err);
  }
}

// Denials: the kernel's permission checks, seccomp's default action, read-only mounts.
bool IsDenial(int err) { return err == EPERM || err == EACCES || err == EROFS || err == ENOSYS; }

// For probes whose arguments are invalid on purpose: any answer but a denial means the permission
// check passed, so the real attack would have gone through.
Outcome PermissionProbe(long rc, int err, const std::string& call) {
  if (rc == 0) return Succeeded(call + " returned 0");
  if (IsDenial(err)) return Blocked(call + ": " + ErrnoName(err));
  return Succeeded(call + " passed the permission check (" + ErrnoName(err) + ")");
}

// Opens a kernel file for writing and closes it unwritten.
Outcome OpenForWrite(const std::vector<const char*>& paths) {
  std::string absent;
  for (const char* path : paths) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      return Succeeded(std::string(path) + " is open for writing");
    }
    int err = errno;
    if (err == ENOENT) {
      absent += std::string(absent.empty() ? "" : ", ") + path;
      continue;
    }
    return Blocked(std::string(path) + ": " + ErrnoName(err));
  }
  return Blocked("not present: " + absent);
}

// Runs `fn` in a forked child (for attacks that change the process: unshare, chroot) and returns
// its outcome: exit 0 = blocked, 1 = succeeded; the detail travels through a pipe.
template <typename Fn>
Outcome InChild(Fn fn) {
  int p[2];
  if (pipe(p) != 0) return Blocked("pipe: " + ErrnoName(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return Blocked("fork: " + ErrnoName(errno));
  }
  if (pid == 0) {
    close(p[0]);
    Outcome o = fn();
    ssize_t ignored = write(p[1], o.detail.data(), o.detail.size());
    (void)ignored;
    _exit(o.succeeded ? 1 : 0);
  }
  close(p[1]);
  std::string detail;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) detail.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1) return Succeeded(detail);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Blocked(detail);
  return Blocked("child died with status " + std::to_string(status) + " " + detail);
}

Outcome MountTmpfs() {
  if (mount("kapsel-escape", MountPoint(), "tmpfs", 0, "size=1m") == 0) {
    umount2(kMountPoint, MNT_DETACH);
    return Succeeded("mounted a tmpfs");
  }
  return Blocked("mount tmpfs: " + ErrnoName(errno));
}

// A read-only root (--read-only) remounted read-write.
Outcome RemountRootReadWrite() {
  struct statvfs before;
  if (statvfs("/", &before) != 0) return Blocked("statvfs /: " + ErrnoName(errno));
  if ((before.f_flag & ST_RDONLY) == 0) {
    // Nothing to gain on a writable root; the attack is judged on a read-only one.
    return Blocked("root is not read-only in this container (run with --read-only)");
  }
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr) == 0) {
    return Succeeded("remounted / read-write");
  }
  return Blocked("remount / rw: " + ErrnoName(errno));
}

Outcome RemountProcSysReadWrite() {
  if (mount(nullptr, "/proc/sys", nullptr, MS_REMOUNT | MS_BIND, nullptr) == 0) {
    return Succeeded("remounted /proc/sys read-write");
  }
  return PermissionProbe(-1, errno, "remount /proc/sys rw");
}

Outcome UnshareUserNsThenMount() {
  return InChild([]() -> Outcome {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return Blocked("unshare(CLONE_NEWUSER|CLONE_NEWNS): " + ErrnoName(errno));
    }
    // Map root of the new namespace onto our own ids, as an unprivileged user would.
    auto write_file = [](const char* path, const std::string& text) {
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0) return;
      ssize_t ignored = write(fd, text.data(), text.size());
      (void)ignored;
      close(fd);
    };
    write_file("/proc/self/setgroups", "deny");
    write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
    write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");
    if (mount("kapsel-escape", MountPoint(), "tmpfs", 0, nullptr) == 0) {
      return Succeeded("unshared a user and mount namespace and mounted a tmpfs");
    }
    return Succeeded("unshared a user namespace (the mount then failed: " + ErrnoName(errno) + ")");
  });
}

// The 2014 "shocker" escape: open_by_handle_at with a guessed handle of the host root's inode 2.
Outcome OpenByHandleAt() {
  struct {
    struct file_handle fh;
    unsigned char bytes[8];
  } handle = {};
  handle.fh.handle_bytes = 8;
  handle.fh.handle_type = 1;  // FILEID_INO32_GEN: {inode, generation}
  unsigned int ino = 2;
  memcpy(handle.fh.f_handle, &ino, sizeof(ino));
  int mount_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0) return Blocked("open /: " + ErrnoName(errno));
  int fd =
      static_cast<int>(syscall(SYS_open_by_handle_at, mount_fd, &handle.fh, O_RDONLY | O_CLOEXEC));
  int err = errno;
  close(mount_fd);
  if (fd >= 0) {
    close(fd);
    return Succeeded("open_by_handle_at opened inode 2 by handle");
  }
  return PermissionProbe(-1, err, "open_by_handle_at");
}

Outcome ReadFileProbe(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Blocked(std::string(path) + " is not present");
    return Blocked(std::string(path) + ": " + ErrnoName(err));
  }
  char c;
  ssize_t n = read(fd, &c, 1);
  int err = errno;
  close(fd);
  if (n > 0) return Succeeded(std::string("read from ") + path);
  if (n == 0) return Blocked(std::string(path) + " reads empty (masked)");
  return Blocked(std::string("read ") + path + ": " + ErrnoName(err));
}

Outcome ReadKernelLog() {
  char buf[64];
  int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf));
  if (n > 0) return Succeeded("read the kernel log");
  if (n == 0) return Blocked("kernel log is empty");
  return Blocked("syslog(READ_ALL): " + ErrnoName(errno));
}

Outcome MountCgroup(const char* type, const char* data) {
  if (mount("cgroup", MountPoint(), type, 0, data) == 0) {
    std::string what = std::string("mounted ") + type + " read-write";
    int fd = open((std::string(kMountPoint) + "/release_agent").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      what += "; release_agent is open for writing";
    }
    umount2(kMountPoint, MNT_DETACH);
    return Succeeded(what);
  }
  return Blocked(std::string("mount ") + type + ": " + ErrnoName(errno));
}

// CVE-2022-0492: a release_agent reachable and writable from inside.
Outcome WriteReleaseAgent() {
  std::vector<std::string> candidates = {"/sys/fs/cgroup/release_agent"};
  if (DIR* d = opendir("/sys/fs/cgroup")) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      candidates.push_back(std::string("/sys/fs/cgroup/") + e->d_name + "/release_agent");
    }
    closedir(d);
  }
  std::vector<const char*> paths;
  for (const auto& c : candidates) paths.push_back(c.c_str());
  return OpenForWrite(paths);
}

// mknod of a host block device (MKNOD is a default capability) and an open of it, which the
// device cgroup must refuse.
Outcome MknodHostDisk() {
  std::string dev_name;
  if (DIR* d = opendir("/sys/dev/block")) {
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') {
        dev_name = e->d_name;
        break;
      }
    }
    closedir(d);
  }
  unsigned int maj = 8, min = 0;  // sda when sysfs shows nothing
  if (!dev_name.empty()) sscanf(dev_name.c_str(), "%u:%u", &maj, &min);
  std::string where = "block device " + std::to_string(maj) + ":" + std::to_string(min);
  // /dev: a tmpfs without nodev in every container, writable also with a read-only root.
  const char* node = "/dev/kapsel-escape-disk";
  unlink(node);
  if (mknod(node, S_IFBLK | 0600, makedev(maj, min)) != 0) {
    return Blocked("mknod " + where + ": " + ErrnoName(errno));
  }
  int fd = open(node, O_RDONLY | O_CLOEXEC);
  int err = errno;
  unlink(node);
  if (fd >= 0) {
    close(fd);
    return Succeeded("opened the host's " + where);
  }
  // The device cgroup answers EPERM; ENXIO or ENODEV come after it let the open through.
  if (IsDenial(err)) return Blocked("mknod worked, open " + where + ": " + ErrnoName(err));
  return Succeeded("the device cgroup let the open of " + where + " through (" + ErrnoName(err) +
                   ")");
}

Outcome LoadModule() {
  long rc = syscall(SYS_finit_module, -1, "", 0);
  return PermissionProbe(rc, errno, "finit_module");
}

Outcome Kexec() {
  // 0x1000 is no KEXEC_* flag: a permitted caller gets EINVAL, after the capability check.
  long rc = syscall(SYS_kexec_load, 0UL, 0UL, nullptr, 0x1000UL);
  return PermissionProbe(rc, errno, "kexec_load");
}

Outcome Reboot() {
  // A wrong magic number: the kernel checks CAP_SYS_BOOT first, then answers EINVAL.
  long rc = syscall(SYS_reboot, 0x12345678, 0x12345678, 0x01234567, nullptr);
  return PermissionProbe(rc, errno, "reboot");
}

Outcome Swapon() {
  long rc = swapon("/kapsel-escape-no-such-swapfile", 0);
  return PermissionProbe(rc, errno, "swapon");
}

Outcome SetTime() {
  // settimeofday(NULL, NULL) checks CAP_SYS_TIME and then changes nothing.
  long rc = syscall(SYS_settimeofday, nullptr, nullptr);
  return PermissionProbe(rc, errno, "settimeofday");
}

Outcome AddKey() {
  const char payload[] = "x";
  long rc = syscall(SYS_add_key, "user", "kapsel-escape", payload, 1, -2 /* process keyring */);
  if (rc >= 0) return Succeeded("add_key created a key");
  return PermissionProbe(-1, errno, "add_key");
}

Outcome Bpf() {
  union bpf_attr attr = {};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return Succeeded("created a BPF map");
  }
  return PermissionProbe(-1, errno, "bpf(BPF_MAP_CREATE)");
}

Outcome PerfEventOpen() {
  struct perf_event_attr attr = {};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  // All processes on cpu 0: the whole host, not only the container.
  long fd = syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return Succeeded("opened a system-wide perf event");
  }
  return PermissionProbe(-1, errno, "perf_event_open");
}

Outcome Iopl() {
  long rc = syscall(SYS_iopl, 3);
  return PermissionProbe(rc, errno, "iopl(3)");
}

pid_t HostPid() {
  const char* v = getenv("KAPSEL_ESCAPE_HOST_PID");
  return v == nullptr ? 0 : static_cast<pid_t>(atoi(v));
}

Outcome PtraceHostProcess() {
  pid_t pid = HostPid();
  if (pid <= 0) return Blocked("KAPSEL_ESCAPE_HOST_PID not set");
  if (ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) == 0) {
    ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return Succeeded("attached to host pid " + std::to_string(pid));
  }
  int err = errno;
  if (err == ESRCH) return Blocked("host pid " + std::to_string(pid) + " is not visible (ESRCH)");
  return Blocked("ptrace host pid: " + ErrnoName(err));
}

Outcome KillHostProcess() {
  pid_t pid = HostPid();
  if (pid <= 0) return Blocked("KAPSEL_ESCAPE_HOST_PID not set");
  // Signal 0: the permission and existence check of kill(2) without a signal.
  if (kill(pid, 0) == 0) return Succeeded("may signal host pid " + std::to_string(pid));
  int err = errno;
  if (err == ESRCH) return Blocked("host pid " + std::to_string(pid) + " is not visible (ESRCH)");
  return Blocked("kill host pid: " + ErrnoName(err));
}

Outcome BindPort80() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Blocked("socket: " + ErrnoName(errno));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(80);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  close(fd);
  if (rc == 0) return Succeeded("bound 127.0.0.1:80");
  if (err == EADDRNOTAVAIL) {
    return Blocked("no loopback address in this network namespace (EADDRNOTAVAIL)");
  }
  return Blocked("bind port 80: " + ErrnoName(err));
}

// CVE-2019-5736: the executable of the container's processes must be a file of the container,
// never a host binary (such as the runtime) reachable through /proc/<pid>/exe.
Outcome ProcExeIsHostBinary() {
  for (const char* link : {"/proc/self/exe", "/proc/1/exe"}) {
    char target[4096];
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) return Blocked(std::string("readlink ") + link + ": " + ErrnoName(errno));
    target[n] = '\0';
    struct stat via_proc, via_path;
    if (stat(link, &via_proc) != 0) return Blocked(std::string("stat ") + link);
    if (stat(target, &via_path) != 0 || via_path.st_dev != via_proc.st_dev ||
        via_path.st_ino != via_proc.st_ino) {
      int fd = open(link, O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        close(fd);
        return Succeeded(std::string(link) + " is a host file, open for writing");
      }
      return Succeeded(std::string(link) + " (" + target + ") is not a file of the container");
    }
  }
  return Blocked("/proc/self/exe and /proc/1/exe are files of the container");
}

// Any descriptor beyond stdio, or stdio that is a host file.
Outcome HostFd() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return Blocked("opendir /proc/self/fd: " + ErrnoName(errno));
  std::string leaks;
  int own = dirfd(d);
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = atoi(e->d_name);
    if (fd == own) continue;
    char target[4096];
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    if (n < 0) continue;
    target[n] = '\0';
    std::string t(target);
    bool stdio_ok =
        fd <= 2 && (t.rfind("pipe:", 0) == 0 || t.rfind("/dev/pts/", 0) == 0 || t == "/dev/null" ||
                    t == "/dev/console" || t.rfind("socket:", 0) == 0);
    if (!stdio_ok) leaks += " " + std::to_string(fd) + "->" + t;
  }
  closedir(d);
  if (!leaks.empty()) return Succeeded("descriptors from outside:" + leaks);
  return Blocked("only stdio is open");
}

// The classic chroot escape: chroot into a subdirectory, climb with .., chroot there. After
// pivot_root the old root is gone from the namespace, so the climb ends at the container's root.
Outcome ChrootEscape() {
  const char* host_path = getenv("KAPSEL_ESCAPE_HOST_PATH");
  if (host_path == nullptr) return Blocked("KAPSEL_ESCAPE_HOST_PATH not set");
  std::string marker = host_path;
  return InChild([marker]() -> Outcome {
    mkdir("/dev/shm/kapsel-escape-chroot", 0700);
    if (chroot("/dev/shm/kapsel-escape-chroot") != 0) return Blocked("chroot: " + ErrnoName(errno));
    for (int i = 0; i < 64; ++i) {
      if (chdir("..") != 0) break;
    }
    if (chroot(".") != 0) return Blocked("chroot .: " + ErrnoName(errno));
    if (access(marker.c_str(), F_OK) == 0) return Succeeded("reached the host's " + marker);
    return Blocked("the climb ended at the container's root");
  });
}

// A volume whose mount point in the image was a symlink pointing out of the rootfs: the volume
// must be mounted inside the container (the test checks the host side).
Outcome VolumeSymlink() {
  const char* volume = getenv("KAPSEL_ESCAPE_VOLUME");
  if (volume == nullptr) return Blocked("no volume in this run (KAPSEL_ESCAPE_VOLUME unset)");
  std::string marker = std::string(volume) + "/kapsel-volume-marker";
  if (access(marker.c_str(), F_OK) != 0) {
    return Succeeded("the volume is not at " + std::string(volume) + " (" + ErrnoName(errno) +
                     "): the mount went elsewhere");
  }
  return Blocked("the volume is mounted at " + std::string(volume) + " inside the container");
}

struct Attack {
  const char* name;
  Outcome (*run)();
};

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const Attack attacks[] = {
      {"mount-tmpfs", MountTmpfs},
      {"remount-root-rw", RemountRootReadWrite},
      {"remount-proc-sys-rw", RemountProcSysReadWrite},
      {"unshare-userns-mount", UnshareUserNsThenMount},
      {"open-by-handle-at", OpenByHandleAt},
      {"write-sysrq-trigger", [] { return OpenForWrite({"/proc/sysrq-trigger"}); }},
      {"write-core-pattern", [] { return OpenForWrite({"/proc/sys/kernel/core_pattern"}); }},
      {"write-sys-kernel",
       [] {
         return OpenForWrite({"/sys/kernel/uevent_helper", "/sys/kernel/profiling",
                              "/sys/kernel/mm/transparent_hugepage/enabled"});
       }},
      {"read-kcore", [] { return ReadFileProbe("/proc/kcore"); }},
      {"read-timer-list", [] { return ReadFileProbe("/proc/timer_list"); }},
      {"read-kernel-log", ReadKernelLog},
      {"mount-cgroup-v1", [] { return MountCgroup("cgroup", "memory"); }},
      {"mount-cgroup2", [] { return MountCgroup("cgroup2", nullptr); }},
      {"write-release-agent", WriteReleaseAgent},
      {"mknod-host-disk", MknodHostDisk},
      {"load-module", LoadModule},
      {"kexec", Kexec},
      {"reboot", Reboot},
      {"swapon", Swapon},
      {"settimeofday", SetTime},
      {"add-key", AddKey},
      {"bpf", Bpf},
      {"perf-event-open", PerfEventOpen},
      {"iopl", Iopl},
      {"ptrace-host-process", PtraceHostProcess},
      {"kill-host-process", KillHostProcess},
      {"bind-port-80", BindPort80},
      {"proc-exe-host-binary", ProcExeIsHostBinary},
      {"host-fd", HostFd},
      {"chroot-escape", ChrootEscape},
      {"volume-symlink", VolumeSymlink},
  };
  int succeeded = 0;
  std::string which;
  for (const Attack& a : attacks) {
    Outcome o = a.run();
    printf("escape: %s: %s (%s)\n", a.name, o.succeeded ? "SUCCEEDED" : "blocked",
           o.detail.c_str());
    if (o.succeeded) {
      ++succeeded;
      which += std::string(which.empty() ? "" : ",") + a.name;
    }
  }
  printf("escape: %d of %zu attacks succeeded%s%s\n", succeeded,
         sizeof(attacks) / sizeof(attacks[0]), succeeded ? ": " : "", which.c_str());
  return succeeded == 0 ? 0 : 1;
}
