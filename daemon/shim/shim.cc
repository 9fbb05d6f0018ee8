#include "daemon/shim/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "daemon/exit_record.h"
#include "daemon/log_format.h"
#include "daemon/log_writer.h"
#include "daemon/shim/attach_hub.h"
#include "runtime/cgroups/manager.h"
#include "runtime/launch.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/spec.h"

namespace kapsel::shim {
namespace {

using linux::UniqueFd;

void Report(int fd, const StartReport& report) {
  if (fd < 0) return;
  std::string text = EncodeStartReport(report);
  text.push_back('\n');
  ssize_t unused = write(fd, text.data(), text.size());
  (void)unused;
  close(fd);
}

// Appends what `fd` has to the log and sends it to the attached clients. Returns false at EOF.
bool Relay(int fd, logs::Stream stream, logs::LogWriter* log, AttachHub* hub) {
  char buf[kAttachMaxPayload];
  ssize_t n = read(fd, buf, sizeof(buf));
  // EIO from a pty master means every slave fd is closed: the same as EOF on a pipe.
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return false;
  std::string out;
  logs::FormatChunk(logs::NowNanos(), stream, absl::string_view(buf, static_cast<size_t>(n)), &out);
  // A full disk or a failed rotation loses output, not the container.
  if (auto s = log->Append(out); !s.ok()) {
    fprintf(stderr, "kapsel-shim: log: %s\n", std::string(s.message()).c_str());
  }
  hub->Broadcast(stream == logs::Stream::kStderr ? AttachPacket::kStderr : AttachPacket::kStdout,
                 buf, static_cast<size_t>(n));
  return true;
}

int Fail(const Options& options, const std::string& error, int exec_errno) {
  fprintf(stderr, "kapsel-shim %s: %s\n", options.id.c_str(), error.c_str());
  StartReport report;
  report.error = error;
  report.exec_errno = exec_errno;
  Report(options.status_fd, report);
  ExitRecord record;
  record.exit_code = exec_errno == ENOENT ? 127 : exec_errno != 0 ? 126 : 125;
  record.error = error;
  record.finished_at = logs::NowNanos();
  (void)WriteExitRecord(options.state_dir, record);
  return 1;
}

}  // namespace

int Run(const Options& options) {
  signal(SIGPIPE, SIG_IGN);
  if (getsid(0) != getpid()) setsid();

  auto spec = runtime::LoadSpec(options.bundle);
  if (!spec.ok()) return Fail(options, std::string(spec.status().message()), 0);
  auto cgroups = runtime::cgroups::NewManager();
  if (!cgroups.ok()) return Fail(options, std::string(cgroups.status().message()), 0);

  auto log = logs::LogWriter::Open(options.log_path, options.log_rotation);
  if (!log.ok()) return Fail(options, std::string(log.status().message()), 0);
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return Fail(options, absl::StrCat("pipe2: ", strerror(errno)), 0);
  }
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]), err_r(err_pipe[0]), err_w(err_pipe[1]);
  UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return Fail(options, absl::StrCat("open /dev/null: ", strerror(errno)), 0);
  UniqueFd first_client(options.attach_fd);

  runtime::LaunchOptions launch;
  launch.container_id = options.id;
  launch.stdin_fd = null_fd.get();
  launch.stdout_fd = out_w.get();
  launch.stderr_fd = err_w.get();
  launch.cgroups = cgroups->get();
  launch.seccomp_cache_dir = options.seccomp_cache_dir;
  // With a terminal, stdio is one pty: its master is read as stdout, and the slave is also the
  // container's /dev/console.
  UniqueFd pty_slave;
  if (spec->process.terminal) {
    UniqueFd master(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    char name[64];
    if (!master || grantpt(master.get()) != 0 || unlockpt(master.get()) != 0 ||
        ptsname_r(master.get(), name, sizeof(name)) != 0) {
      return Fail(options, absl::StrCat("allocate a pty: ", strerror(errno)), 0);
    }
    pty_slave.Reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pty_slave) return Fail(options, absl::StrCat("open ", name, ": ", strerror(errno)), 0);
    launch.stdin_fd = launch.stdout_fd = launch.stderr_fd = pty_slave.get();
    launch.console_path = name;
    out_r = std::move(master);
    err_r.Close();
  }
  // -i without a terminal: stdin is a pipe that the attach socket feeds.
  UniqueFd stdin_r, stdin_w;
  if (options.open_stdin && !spec->process.terminal) {
    int in_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0)
      return Fail(options, absl::StrCat("pipe2: ", strerror(errno)), 0);
    stdin_r.Reset(in_pipe[0]);
    stdin_w.Reset(in_pipe[1]);
    launch.stdin_fd = stdin_r.get();
  }
  const int tty_master = spec->process.terminal ? out_r.get() : -1;
  auto hub =
      AttachHub::Listen(options.state_dir, std::move(stdin_w), tty_master, options.open_stdin);
  if (!hub.ok()) return Fail(options, std::string(hub.status().message()), 0);
  // Registered before the launch: the first client sees the output from its first byte.
  if (first_client) {
    hub->AddClient(std::move(first_client));
    hub->ReceivePending();
  }
  auto proc = runtime::Launch(*spec, launch);
  if (!proc.ok())
    return Fail(options, std::string(proc.status().message()), runtime::ExecErrno(proc.status()));
  out_w.Close();
  err_w.Close();
  null_fd.Close();
  pty_slave.Close();
  stdin_r.Close();

  StartReport report;
  report.ok = true;
  report.pid = proc->pid;
  Report(options.status_fd, report);
  // Nothing of the spec (nor its seccomp program) is needed while the container runs: its memory
  // goes back to the kernel, so that each shim keeps only what relaying output needs.
  *spec = runtime::Spec();
  malloc_trim(0);

  // Relay output until the init has exited and both pipes are at EOF. When the init of a pid
  // namespace dies the kernel kills the rest of it, so the pipes close right after.
  bool out_open = true, err_open = err_r.valid(), exited = false;
  siginfo_t info = {};
  std::vector<struct pollfd> fds;
  while (out_open || err_open || !exited) {
    fds = {{out_open ? out_r.get() : -1, POLLIN, 0},
           {err_open ? err_r.get() : -1, POLLIN, 0},
           {exited ? -1 : proc->pidfd.get(), POLLIN, 0}};
    hub->Fill(&fds);
    int timeout = exited ? 2000 : -1;
    int n = poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;  // exited, and the pipes stayed open too long: a stray holder
    if (fds[0].revents) out_open = Relay(out_r.get(), logs::Stream::kStdout, &*log, &*hub);
    if (fds[1].revents) err_open = Relay(err_r.get(), logs::Stream::kStderr, &*log, &*hub);
    if (fds[2].revents) {
      if (waitid(P_PIDFD, static_cast<id_t>(proc->pidfd.get()), &info, WEXITED) == 0) exited = true;
    }
    hub->Handle(fds);
  }
  hub->Shutdown();
  if (!exited) {
    while (waitid(P_PIDFD, static_cast<id_t>(proc->pidfd.get()), &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
  }

  ExitRecord record;
  record.finished_at = logs::NowNanos();
  if (info.si_code == CLD_EXITED) {
    record.exit_code = info.si_status;
  } else {
    record.signal = info.si_status;
    record.exit_code = 128 + info.si_status;
  }
  if (!proc->cgroup_path.empty()) {
    auto stats = (*cgroups)->GetStats(proc->cgroup_path);
    if (stats.ok() && stats->oom_kills > 0 && record.signal == SIGKILL) record.oom_killed = true;
    if (auto s = (*cgroups)->Destroy(proc->cgroup_path); !s.ok()) {
      fprintf(stderr, "kapsel-shim %s: %s\n", options.id.c_str(), std::string(s.message()).c_str());
    }
  }
  if (auto s = WriteExitRecord(options.state_dir, record); !s.ok()) {
    fprintf(stderr, "kapsel-shim %s: %s\n", options.id.c_str(), std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace kapsel::shim
