#include "daemon/shim/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/cgroups/manager.h"
#include "runtime/child_plan.h"
#include "runtime/launch.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/seccomp/compile.h"
#include "runtime/spec.h"

namespace kapsel::shim {
namespace {

using linux::UniqueFd;

// Exit codes of a process that could not be started, as docker's.
constexpr int kNotExecutable = 126;
constexpr int kNotFound = 127;

struct ExecArgs {
  std::string id;
  std::string bundle;
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks after boot (proc(5), field 22 of /proc/PID/stat)
  int status_fd = -1;
  bool has_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string cwd;               // empty: the container's process.cwd
  std::vector<std::string> env;  // KEY=VALUE, over the container's process.env
  bool tty = false;
  bool privileged = false;
  std::string seccomp_cache_dir;  // seccomp::CompileCached; empty: compile without a cache
  std::vector<std::string> cmd;
};

void WriteLine(int fd, const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reports a process that never ran and returns the helper's exit code.
int ReportFailure(int status_fd, int code, absl::string_view message) {
  std::string line = absl::StrCat("err ", code, " ", message);
  for (char& c : line) {
    if (c == '\n') c = ' ';
  }
  WriteLine(status_fd, line + "\n");
  return code;
}

absl::StatusOr<ExecArgs> ParseArgs(int argc, char** argv) {
  ExecArgs a;
  enum {
    kId = 1,
    kBundle,
    kPid,
    kStartTime,
    kStatusFd,
    kUser,
    kCwd,
    kEnv,
    kTty,
    kPrivileged,
    kSeccompCache,
  };
  static const struct option kLong[] = {
      {"id", required_argument, nullptr, kId},
      {"bundle", required_argument, nullptr, kBundle},
      {"pid", required_argument, nullptr, kPid},
      {"start-time", required_argument, nullptr, kStartTime},
      {"status-fd", required_argument, nullptr, kStatusFd},
      {"user", required_argument, nullptr, kUser},
      {"cwd", required_argument, nullptr, kCwd},
      {"env", required_argument, nullptr, kEnv},
      {"tty", no_argument, nullptr, kTty},
      {"privileged", no_argument, nullptr, kPrivileged},
      {"seccomp-cache", required_argument, nullptr, kSeccompCache},
      {nullptr, 0, nullptr, 0}};
  optind = 1;
  int c;
  // "+": stop at the first non-option, so that the command's own flags stay its own.
  while ((c = getopt_long(argc, argv, "+", kLong, nullptr)) != -1) {
    switch (c) {
      case kId:
        a.id = optarg;
        break;
      case kBundle:
        a.bundle = optarg;
        break;
      case kPid:
        if (!absl::SimpleAtoi(optarg, &a.pid) || a.pid <= 0)
          return absl::InvalidArgumentError(absl::StrCat("--pid ", optarg));
        break;
      case kStartTime:
        if (!absl::SimpleAtoi(optarg, &a.start_time))
          return absl::InvalidArgumentError(absl::StrCat("--start-time ", optarg));
        break;
      case kStatusFd:
        if (!absl::SimpleAtoi(optarg, &a.status_fd))
          return absl::InvalidArgumentError(absl::StrCat("--status-fd ", optarg));
        break;
      case kUser: {
        std::vector<std::string> parts = absl::StrSplit(optarg, ':');
        if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &a.uid) ||
            !absl::SimpleAtoi(parts[1], &a.gid)) {
          return absl::InvalidArgumentError(absl::StrCat("--user ", optarg));
        }
        if (parts.size() > 2) {
          for (absl::string_view g : absl::StrSplit(parts[2], ',', absl::SkipEmpty())) {
            gid_t v;
            if (!absl::SimpleAtoi(g, &v))
              return absl::InvalidArgumentError(absl::StrCat("--user ", optarg));
            a.groups.push_back(v);
          }
        }
        a.has_user = true;
        break;
      }
      case kCwd:
        a.cwd = optarg;
        break;
      case kEnv:
        a.env.push_back(optarg);
        break;
      case kTty:
        a.tty = true;
        break;
      case kPrivileged:
        a.privileged = true;
        break;
      case kSeccompCache:
        a.seccomp_cache_dir = optarg;
        break;
      default:
        return absl::InvalidArgumentError("unknown option");
    }
  }
  for (int i = optind; i < argc; ++i) a.cmd.push_back(argv[i]);
  if (a.id.empty() || a.bundle.empty() || a.pid <= 0 || a.status_fd < 0 || a.cmd.empty()) {
    return absl::InvalidArgumentError(
        "usage: kapsel-shim exec --id ID --bundle DIR --pid PID --start-time TICKS --status-fd N "
        "[--user UID:GID[:GIDS]] [--cwd DIR] [--env K=V]... [--tty] [--privileged] -- CMD...");
  }
  return a;
}

// The container's environment with the overrides applied: a KEY given again replaces the value.
std::vector<std::string> MergeEnv(std::vector<std::string> env,
                                  const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    bool replaced = false;
    for (std::string& e : env) {
      if (e.substr(0, e.find('=')) == key) {
        e = o;
        replaced = true;
      }
    }
    if (!replaced) env.push_back(o);
  }
  return env;
}

// The plan of the exec'd process: what the container's init does after its mounts (rlimits,
// working directory, user, capabilities, no_new_privs, seccomp), with no namespace, mount or
// hostname step: the helper has joined the namespaces before it forks.
absl::StatusOr<runtime::ChildPlan> BuildExecPlan(const runtime::Spec& spec, const ExecArgs& a) {
  runtime::ChildPlan plan;
  if (spec.seccomp && !a.privileged) {
    auto filter = runtime::seccomp::CompileCached(*spec.seccomp, a.seccomp_cache_dir);
    if (!filter.ok()) return filter.status();
    plan.seccomp_program = std::move(filter->program);
    plan.seccomp_flags = filter->flags;
    plan.seccomp_early = !spec.process.no_new_privileges;
  }
  plan.stdin_fd = 0;
  plan.stdout_fd = 1;
  plan.stderr_fd = 2;
  plan.terminal = a.tty;
  plan.rlimits = spec.process.rlimits;
  plan.last_cap = runtime::ReadLastCap();
  if (a.privileged) {
    // --privileged: the helper's whole bounding set (every capability the host lets kapseld
    // have), none inheritable or ambient.
    uint64_t all = 0;
    for (int cap = 0; cap <= plan.last_cap && cap < 64; ++cap) {
      if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) all |= 1ULL << cap;
    }
    plan.set_caps = true;
    plan.caps.bounding = plan.caps.effective = plan.caps.permitted = all;
  } else if (spec.process.capabilities) {
    plan.set_caps = true;
    plan.caps = *spec.process.capabilities;
  }
  if (a.has_user) {
    plan.uid = a.uid;
    plan.gid = a.gid;
    plan.groups = a.groups;
    // A non-root user gets no effective capabilities, as the container's own process would not.
    if (a.uid != 0 && plan.set_caps && !a.privileged) {
      plan.caps.effective = plan.caps.permitted = plan.caps.ambient = 0;
    }
  } else {
    plan.uid = spec.process.user.uid;
    plan.gid = spec.process.user.gid;
    plan.groups = spec.process.user.additional_gids;
  }
  if (spec.process.user.umask) {
    plan.set_umask = true;
    plan.umask = *spec.process.user.umask;
  }
  plan.no_new_privs = spec.process.no_new_privileges;
  plan.cwd = a.cwd.empty() ? spec.process.cwd : a.cwd;
  plan.args = a.cmd;
  plan.env = MergeEnv(spec.process.env, a.env);
  for (auto& arg : plan.args) plan.argv.push_back(arg.data());
  plan.argv.push_back(nullptr);
  for (auto& e : plan.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.exec_candidates = runtime::ExecCandidates(plan.args[0], plan.env);
  return plan;
}

std::string ChildErrorMessage(const runtime::ChildError& e, const runtime::ChildPlan& plan) {
  const auto step = static_cast<runtime::ChildStep>(e.step);
  if (step == runtime::ChildStep::kExec) {
    if (e.err == ENOENT || e.err == ENOTDIR) {
      return absl::StrCat("exec \"", plan.args[0], "\": executable file not found",
                          plan.args[0].find('/') == std::string::npos ? " in $PATH" : "");
    }
    return absl::StrCat("exec \"", plan.args[0], "\": ", strerror(e.err));
  }
  std::string what = runtime::ChildStepName(step);
  if (step == runtime::ChildStep::kChdir || step == runtime::ChildStep::kCwdOutside) {
    absl::StrAppend(&what, " ", plan.cwd);
  }
  return absl::StrCat(what, ": ", strerror(e.err));
}

// The namespaces joined, in order: the user namespace first, so that the others are joined with
// its privileges; the mount namespace last, since /proc of the host is out of view after it.
// setns(CLONE_NEWPID) only moves the children of the caller: the fork below.
struct NsEntry {
  const char* name;
  int type;
};
constexpr NsEntry kNamespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},       {"net", CLONE_NEWNET},
    {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS},
};

int Exec(const ExecArgs& a) {
  const int status_fd = a.status_fd;
  auto spec = runtime::LoadSpec(a.bundle);
  if (!spec.ok()) return ReportFailure(status_fd, kNotExecutable, spec.status().message());

  // The pid names the container's init only while that process lives and has the start time the
  // daemon saw: with the pidfd held, a check of the start time rules out a reused pid.
  auto pidfd = linux::PidfdOpen(a.pid);
  if (!pidfd.ok() || linux::ProcStatField(a.pid, 22) != a.start_time) {
    return ReportFailure(status_fd, kNotExecutable,
                         absl::StrCat("container ", a.id, " is not running"));
  }
  std::vector<std::pair<UniqueFd, int>> namespaces;
  if (spec->HasNamespace(runtime::NamespaceType::kUser)) {
    const std::string path = absl::StrCat("/proc/", a.pid, "/ns/user");
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ReportFailure(status_fd, kNotExecutable, absl::StrCat("open ", path));
    namespaces.emplace_back(std::move(fd), CLONE_NEWUSER);
  }
  for (const NsEntry& ns : kNamespaces) {
    const std::string path = absl::StrCat("/proc/", a.pid, "/ns/", ns.name);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      return ReportFailure(status_fd, kNotExecutable,
                           linux::ErrnoStatus(errno, absl::StrCat("open ", path)).message());
    }
    namespaces.emplace_back(std::move(fd), ns.type);
  }
  if (!linux::PidfdSendSignal(pidfd->get(), 0).ok()) {
    return ReportFailure(status_fd, kNotExecutable,
                         absl::StrCat("container ", a.id, " is not running"));
  }
  pidfd->Close();

  auto plan = BuildExecPlan(*spec, a);
  if (!plan.ok()) return ReportFailure(status_fd, kNotExecutable, plan.status().message());

  // The container's cgroup, joined through the host's cgroup tree before the mount namespace
  // changes; the cgroup namespace joined after it then shows the container's view of it.
  auto cgroups = runtime::cgroups::NewManager();
  if (!cgroups.ok()) return ReportFailure(status_fd, kNotExecutable, cgroups.status().message());
  if (auto s = (*cgroups)->AddProcess(runtime::CgroupPathFor(*spec, a.id), getpid()); !s.ok()) {
    return ReportFailure(status_fd, kNotExecutable, s.message());
  }
  UniqueFd null_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) return ReportFailure(status_fd, kNotExecutable, "open /dev/null");

  // Nothing in the container may open this host binary through /proc/PID/exe or ptrace it
  // (CVE-2019-5736): the helper and its child are non-dumpable from before they enter the
  // container until the execve that replaces the child's image.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return ReportFailure(status_fd, kNotExecutable,
                         linux::ErrnoStatus(errno, "prctl PR_SET_DUMPABLE").message());
  }
  for (auto& [fd, type] : namespaces) {
    if (setns(fd.get(), type) != 0) {
      return ReportFailure(status_fd, kNotExecutable,
                           linux::ErrnoStatus(errno, absl::StrCat("setns ", type)).message());
    }
    fd.Close();
  }

  int error_pipe[2];
  if (pipe2(error_pipe, O_CLOEXEC) != 0)
    return ReportFailure(status_fd, kNotExecutable, "pipe2 failed");
  UniqueFd error_r(error_pipe[0]), error_w(error_pipe[1]);
  plan->error_fd = error_w.get();
  plan->sync_fd = -1;

  pid_t child = fork();
  if (child < 0) {
    return ReportFailure(status_fd, kNotExecutable, linux::ErrnoStatus(errno, "fork").message());
  }
  if (child == 0) runtime::RunChild(*plan);  // never returns
  error_w.Close();
  // The helper keeps none of the process' stdio: end-of-file on its output is the process'.
  for (int fd = 0; fd <= 2; ++fd) dup2(null_fd.get(), fd);
  null_fd.Close();

  auto wait_child = [&] {
    int wstatus = 0;
    while (waitpid(child, &wstatus, 0) < 0) {
      if (errno != EINTR) return kNotExecutable;
    }
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return WEXITSTATUS(wstatus);
  };
  runtime::ChildError e;
  ssize_t n;
  do {
    n = read(error_r.get(), &e, sizeof(e));
  } while (n < 0 && errno == EINTR);
  if (n != 0) {
    wait_child();
    if (n != sizeof(e)) return ReportFailure(status_fd, kNotExecutable, "short error report");
    int code = kNotExecutable;
    if (static_cast<runtime::ChildStep>(e.step) == runtime::ChildStep::kExec &&
        (e.err == ENOENT || e.err == ENOTDIR)) {
      code = kNotFound;
    }
    return ReportFailure(status_fd, code, ChildErrorMessage(e, *plan));
  }
  WriteLine(status_fd, absl::StrCat("ok ", child, "\n"));
  close(status_fd);
  return wait_child();
}

}  // namespace

int ExecMain(int argc, char** argv) {
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) {
    fprintf(stderr, "kapsel-shim exec: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  return Exec(*args);
}

}  // namespace kapsel::shim
