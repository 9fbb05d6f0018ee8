#include "runtime/linux/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"

namespace kapsel::linux {
namespace {

// A child made with `flags` that, when `join_fd` >= 0, joins that user namespace and unshares
// `unshare_flag`; it reports 0 or -errno on `report`, then waits for `go` to close. Returns its
// pid.
absl::StatusOr<pid_t> SpawnHolder(uint64_t flags, int join_fd, int unshare_flag, UniqueFd* report,
                                  UniqueFd* go) {
  int report_pipe[2], go_pipe[2];
  if (pipe2(report_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd report_read(report_pipe[0]), report_write(report_pipe[1]);
  if (pipe2(go_pipe, O_CLOEXEC) != 0) return ErrnoStatus(errno, "pipe2");
  UniqueFd go_read(go_pipe[0]), go_write(go_pipe[1]);
  struct clone_args args = {};
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  long pid = RawClone3(&args);
  if (pid < 0) return ErrnoStatus(errno, "clone3 (namespace holder)");
  if (pid == 0) {
    // Only async-signal-safe calls: the parent may have other threads. Our copy of the write end
    // would keep the read below from ever seeing EOF.
    close(go_write.get());
    int answer = 0;
    if (join_fd >= 0 && setns(join_fd, CLONE_NEWUSER) != 0) answer = -errno;
    if (answer == 0 && unshare_flag != 0 && unshare(unshare_flag) != 0) answer = -errno;
    if (write(report_write.get(), &answer, sizeof(answer)) != sizeof(answer)) _exit(1);
    char unused;
    while (read(go_read.get(), &unused, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  report_write.Close();
  go_read.Close();
  *report = std::move(report_read);
  *go = std::move(go_write);
  return static_cast<pid_t>(pid);
}

// Reads the holder's report: OK, or the errno it sent as a status about `what`.
absl::Status ReadReport(int fd, const std::string& what) {
  int answer = 0;
  ssize_t n;
  do {
    n = read(fd, &answer, sizeof(answer));
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(answer)) return absl::InternalError(absl::StrCat(what, ": the holder died"));
  if (answer < 0) return ErrnoStatus(-answer, what);
  return absl::OkStatus();
}

absl::Status WriteProcFile(pid_t pid, const char* file, const std::string& text) {
  const std::string path = absl::StrCat("/proc/", pid, "/", file);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  // A map must be written in one write(2).
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return ErrnoStatus(errno, absl::StrCat("write ", path, " \"", text, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenNs(pid_t pid, const char* type) {
  const std::string path = absl::StrCat("/proc/", pid, "/ns/", type);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  return fd;
}

const char* NsName(int clone_flag) {
  switch (clone_flag) {
    case CLONE_NEWNET:
      return "net";
    case CLONE_NEWIPC:
      return "ipc";
    case CLONE_NEWUTS:
      return "uts";
    case CLONE_NEWNS:
      return "mnt";
    default:
      return nullptr;
  }
}

}  // namespace

absl::StatusOr<UniqueFd> NewUserNamespace(const std::string& uid_map, const std::string& gid_map) {
  UniqueFd report, go;
  auto pid = SpawnHolder(CLONE_NEWUSER, -1, 0, &report, &go);
  if (!pid.ok()) return pid.status();
  absl::Cleanup reap = [&] {
    go.Close();
    while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  };
  if (auto s = ReadReport(report.get(), "clone3 CLONE_NEWUSER"); !s.ok()) return s;
  if (auto s = WriteProcFile(*pid, "uid_map", uid_map); !s.ok()) return s;
  if (auto s = WriteProcFile(*pid, "gid_map", gid_map); !s.ok()) return s;
  return OpenNs(*pid, "user");
}

absl::StatusOr<UniqueFd> NewNamespaceOwnedBy(int user_ns_fd, int clone_flag) {
  const char* name = NsName(clone_flag);
  if (name == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("namespace flag ", clone_flag, " not handled"));
  }
  UniqueFd report, go;
  auto pid = SpawnHolder(0, user_ns_fd, clone_flag, &report, &go);
  if (!pid.ok()) return pid.status();
  absl::Cleanup reap = [&] {
    go.Close();
    while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  };
  if (auto s =
          ReadReport(report.get(), absl::StrCat("new ", name, " namespace in a user namespace"));
      !s.ok()) {
    return s;
  }
  return OpenNs(*pid, name);
}

absl::Status BindNamespace(int ns_fd, const std::string& path) {
  UniqueFd file(open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  if (!file) {
    if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    return ErrnoStatus(errno, absl::StrCat("create ", path));
  }
  file.Close();
  const std::string source = absl::StrCat("/proc/self/fd/", ns_fd);
  if (mount(source.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int err = errno;
    unlink(path.c_str());
    return ErrnoStatus(err, absl::StrCat("mount --bind ", source, " ", path));
  }
  return absl::OkStatus();
}

absl::Status UnbindNamespace(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
      errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("umount ", path));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

bool IsNamespaceMount(const std::string& path) {
  struct statfs fs = {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

}  // namespace kapsel::linux
