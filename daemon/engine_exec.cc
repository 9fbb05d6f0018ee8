// exec: a new process in a running container (issue 6).
//
// kapseld is multithreaded, and setns(2) into a mount or pid namespace needs a single-threaded
// caller (the kernel refuses CLONE_NEWNS to a process sharing its fs_struct, and CLONE_NEWPID only
// moves future children). So the daemon posix_spawns `kapsel-shim exec` (daemon/shim/exec.h) with
// the process' stdio and reads one report line from it; everything in the container's
// namespaces happens in that helper and its child. The daemon only checks the container's state,
// resolves -u against the container's own /etc/passwd and /etc/group, and makes the stdio: pipes,
// or a pty whose master it keeps (its slave goes to the process).

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/engine.h"
#include "daemon/engine_internal.h"
#include "daemon/oci_spec_builder.h"
#include "daemon/shim_spawn.h"
#include "runtime/linux/syscalls.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

using linux::UniqueFd;
using store::ContainerRecord;
using store::EventRecord;

// How long the helper may take to report that the process runs (or could not be started).
constexpr int kReportTimeoutMillis = 30000;
// At most this much of /etc/passwd or /etc/group is read.
constexpr size_t kMaxUserFileBytes = 1 << 20;

// A file of the container's root, resolved inside it (a symlink planted in the image cannot lead
// to a host file); "" when it does not exist.
absl::StatusOr<std::string> ReadInContainer(int root_fd, const std::string& rel) {
  auto fd = linux::Openat2(root_fd, rel, O_RDONLY | O_CLOEXEC, 0,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (!fd.ok()) {
    if (absl::IsNotFound(fd.status())) return std::string();
    return fd.status();
  }
  auto bytes = linux::ReadAllBounded(fd->get(), kMaxUserFileBytes, absl::StrCat("/", rel));
  if (absl::IsInvalidArgument(bytes.status())) {
    return absl::InvalidArgumentError(absl::StrCat("/", rel, " of the container is too large"));
  }
  return bytes;
}

struct ExecUser {
  std::string arg;   // "uid:gid:g1,g2" for `kapsel-shim exec --user`
  std::string home;  // the user's home directory in the container's /etc/passwd
};

// Resolved against the container's own files.
absl::StatusOr<ExecUser> ResolveExecUser(pid_t init_pid, int init_pidfd, const std::string& user) {
  const std::string root_path = absl::StrCat("/proc/", init_pid, "/root");
  UniqueFd root(open(root_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return linux::ErrnoStatus(errno, absl::StrCat("open ", root_path));
  // Opened while the pidfd's process lives: the root is the container's, not a reused pid's.
  if (auto s = linux::PidfdSendSignal(init_pidfd, 0); !s.ok()) return s;
  auto passwd = ReadInContainer(root.get(), "etc/passwd");
  if (!passwd.ok()) return passwd.status();
  auto group = ReadInContainer(root.get(), "etc/group");
  if (!group.ok()) return group.status();
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  if (auto s = ResolveUser(user, *passwd, *group, &uid, &gid, &groups); !s.ok()) return s;
  return ExecUser{absl::StrCat(uid, ":", gid, ":", absl::StrJoin(groups, ",")),
                  HomeOf(uid, *passwd)};
}

absl::Status SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return linux::ErrnoStatus(errno, "fcntl O_NONBLOCK");
  return absl::OkStatus();
}

// Both ends of a pipe, close-on-exec; the helper gets its end through posix_spawn's dup2.
absl::Status Pipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return linux::ErrnoStatus(errno, "pipe2");
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return absl::OkStatus();
}

// A new pty: the master (kept by the daemon) and the slave (for the process), neither of which
// becomes kapseld's controlling terminal (O_NOCTTY).
absl::Status OpenPty(UniqueFd* master, UniqueFd* slave) {
  master->Reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!*master) return linux::ErrnoStatus(errno, "posix_openpt");
  if (grantpt(master->get()) != 0) return linux::ErrnoStatus(errno, "grantpt");
  if (unlockpt(master->get()) != 0) return linux::ErrnoStatus(errno, "unlockpt");
  char name[128];
  if (int rc = ptsname_r(master->get(), name, sizeof(name)); rc != 0)
    return linux::ErrnoStatus(rc, "ptsname_r");
  slave->Reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!*slave) return linux::ErrnoStatus(errno, absl::StrCat("open ", name));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine::ExecSession>> Engine::Exec(
    const v1::ExecSpec& spec, const v1::WindowSize* initial_size) {
  if (spec.cmd().empty()) return absl::InvalidArgumentError("cmd: a command must be given");
  for (const std::string& e : spec.env()) {
    if (e.empty() || e.front() == '=' || e.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("env \"", e, "\": must be KEY=VALUE"));
    }
  }
  if (!spec.working_dir().empty() && spec.working_dir().front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("working dir \"", spec.working_dir(), "\": must be absolute"));
  }
  auto found = containers_.Resolve(spec.container());
  if (!found.ok()) return found.status();
  // Held until the process runs, so that a stop or a restart cannot slip in between the checks
  // and the helper's entry into the container.
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  if (rec->state == "paused") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", rec->name, " is not running (it is paused; unpause it first)"));
  }
  auto not_running = [&] {
    return absl::FailedPreconditionError(absl::StrCat("container ", rec->name, " is not running"));
  };
  if (rec->state != "running") return not_running();
  // A pidfd held across the check rules out a reused pid.
  auto init_pidfd = internal::InitPidfd(*rec);
  if (!init_pidfd.ok()) return init_pidfd.status();
  const uint64_t init_start = linux::ProcStatField(rec->pid, 22);
  std::optional<ExecUser> user;
  if (!spec.user().empty()) {
    auto resolved = ResolveExecUser(rec->pid, init_pidfd->get(), spec.user());
    if (!resolved.ok()) return resolved.status();
    user = *std::move(resolved);
  }

  auto session = std::make_unique<ExecSession>();
  session->container_id = rec->id;
  session->container_name = rec->name;
  session->tty = spec.tty();
  // The helper's ends; closed here once it has them.
  UniqueFd child_in, child_out, child_err;
  if (spec.tty()) {
    if (auto s = OpenPty(&session->stdout_fd, &child_out); !s.ok()) return s;
    if (auto s = SetNonBlocking(session->stdout_fd.get()); !s.ok()) return s;
    if (initial_size != nullptr && initial_size->rows() != 0 && initial_size->cols() != 0) {
      struct winsize ws = {};
      ws.ws_row = static_cast<unsigned short>(initial_size->rows());
      ws.ws_col = static_cast<unsigned short>(initial_size->cols());
      if (ioctl(session->stdout_fd.get(), TIOCSWINSZ, &ws) != 0)
        return linux::ErrnoStatus(errno, "ioctl TIOCSWINSZ");
    }
  } else {
    if (spec.attach_stdin()) {
      if (auto s = Pipe(&child_in, &session->stdin_fd); !s.ok()) return s;
      if (auto s = SetNonBlocking(session->stdin_fd.get()); !s.ok()) return s;
    } else {
      child_in.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!child_in) return linux::ErrnoStatus(errno, "open /dev/null");
    }
    if (auto s = Pipe(&session->stdout_fd, &child_out); !s.ok()) return s;
    if (auto s = Pipe(&session->stderr_fd, &child_err); !s.ok()) return s;
    if (auto s = SetNonBlocking(session->stdout_fd.get()); !s.ok()) return s;
    if (auto s = SetNonBlocking(session->stderr_fd.get()); !s.ok()) return s;
  }
  const int in_fd = spec.tty() ? child_out.get() : child_in.get();
  const int out_fd = child_out.get();
  const int err_fd = spec.tty() ? child_out.get() : child_err.get();
  UniqueFd status_r, status_w;
  if (auto s = Pipe(&status_r, &status_w); !s.ok()) return s;

  std::vector<std::string> args = {"exec",
                                   "--id",
                                   rec->id,
                                   "--bundle",
                                   ContainerDir(rec->id),
                                   "--pid",
                                   absl::StrCat(rec->pid),
                                   "--start-time",
                                   absl::StrCat(init_start),
                                   "--status-fd",
                                   "3"};
  if (user.has_value()) {
    // Another user has another home (an -e HOME=... given below still wins).
    args.insert(args.end(), {"--user", user->arg, "--env", "HOME=" + user->home});
  }
  if (!spec.working_dir().empty()) args.insert(args.end(), {"--cwd", spec.working_dir()});
  for (const std::string& e : spec.env()) {
    // "KEY" alone takes the value from nowhere here (the client expands it): an empty value.
    args.insert(args.end(), {"--env", e.find('=') == std::string::npos ? e + "=" : e});
  }
  if (spec.tty()) args.push_back("--tty");
  // --privileged: every capability and no seccomp filter for this process.
  if (spec.privileged()) args.push_back("--privileged");
  args.insert(args.end(), {"--seccomp-cache", options_.exec_root + "/seccomp-cache"});
  args.push_back("--");
  args.insert(args.end(), spec.cmd().begin(), spec.cmd().end());

  ShimSpawn spawn{options_.shim_path,
                  std::move(args),
                  {{in_fd, 0}, {out_fd, 1}, {err_fd, 2}, {status_w.get(), 3}},
                  /*new_session=*/true};
  auto spawned = SpawnShim(spawn);
  if (!spawned.ok()) return spawned.status();
  const pid_t shim_pid = *spawned;
  session->shim_pid = shim_pid;
  status_w.Close();
  child_in.Close();
  child_out.Close();
  child_err.Close();
  auto shim_pidfd = linux::PidfdOpen(shim_pid);
  if (!shim_pidfd.ok()) {
    kill(shim_pid, SIGKILL);
    waitpid(shim_pid, nullptr, 0);
    return shim_pidfd.status();
  }
  session->shim_pidfd = *std::move(shim_pidfd);

  auto reported = ReadReport(status_r.get(), kReportTimeoutMillis);
  if (absl::IsDeadlineExceeded(reported.status())) {
    ExecKill(*session);
    (void)ExecWait(*session);
    return absl::DeadlineExceededError(
        absl::StrCat("kapsel-shim exec did not report within ", kReportTimeoutMillis / 1000, "s"));
  }
  std::string report = reported.ok() ? *std::move(reported) : "";
  while (!report.empty() && report.back() == '\n') report.pop_back();
  std::vector<std::string> words = absl::StrSplit(report, absl::MaxSplits(' ', 2));
  int code = 0;
  if (words.size() >= 2 && words[0] == "ok" && absl::SimpleAtoi(words[1], &session->pid)) {
    // The helper reaps the process only after this report: the pid is still the process'.
    auto pidfd = linux::PidfdOpen(session->pid);
    if (pidfd.ok()) session->pidfd = *std::move(pidfd);
  } else if (words.size() == 3 && words[0] == "err" && absl::SimpleAtoi(words[1], &code)) {
    ExitInfo failed;
    failed.exit_code = code;
    failed.error = words[2];
    session->failed = failed;
    return session;
  } else {
    ExecKill(*session);
    ExitInfo exit = ExecWait(*session);
    return absl::InternalError(
        absl::StrCat("kapsel-shim exec exited without a report (exit code ", exit.exit_code, ")"));
  }
  EventRecord e;
  e.type = "exec_start";
  e.container_id = rec->id;
  e.image_id = rec->image_id;
  e.attributes = {{"name", rec->name},
                  {"cmd", absl::StrJoin(spec.cmd(), " ")},
                  {"pid", absl::StrCat(session->pid)}};
  if (auto s = CommitEvents([] { return absl::OkStatus(); }, {e}); !s.ok()) {
    spdlog::warn("record exec_start of {}: {}", rec->id.substr(0, 12), std::string(s.message()));
  }
  return session;
}

void Engine::ExecKill(ExecSession& session) {
  if (session.pidfd) (void)linux::PidfdSendSignal(session.pidfd.get(), SIGKILL);
  if (session.shim_pidfd) (void)linux::PidfdSendSignal(session.shim_pidfd.get(), SIGKILL);
}

ExitInfo Engine::ExecWait(ExecSession& session) {
  ExitInfo exit;
  if (session.shim_pid <= 0) return session.failed.value_or(exit);
  siginfo_t info = {};
  int rc;
  if (session.shim_pidfd) {
    do {
      rc = waitid(P_PIDFD, static_cast<id_t>(session.shim_pidfd.get()), &info, WEXITED);
    } while (rc < 0 && errno == EINTR);
  } else {
    do {
      rc = waitid(P_PID, static_cast<id_t>(session.shim_pid), &info, WEXITED);
    } while (rc < 0 && errno == EINTR);
  }
  session.shim_pid = 0;
  session.shim_pidfd.Close();
  if (session.failed) return *session.failed;
  if (rc == 0) {
    exit.exit_code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
  } else {
    exit.exit_code = 125;
    exit.error = linux::ErrnoStatus(errno, "waitid kapsel-shim exec").ToString();
  }
  EventRecord e;
  e.type = "exec_die";
  e.container_id = session.container_id;
  e.attributes = {{"name", session.container_name},
                  {"pid", absl::StrCat(session.pid)},
                  {"exit_code", absl::StrCat(exit.exit_code)}};
  if (auto s = CommitEvents([] { return absl::OkStatus(); }, {e}); !s.ok()) {
    spdlog::warn("record exec_die of {}: {}", session.container_id.substr(0, 12),
                 std::string(s.message()));
  }
  return exit;
}

}  // namespace kapsel::daemon
