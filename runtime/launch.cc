#include "runtime/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "runtime/linux/syscalls.h"
#include "runtime/mount_options.h"
#include "runtime/seccomp/compile.h"

namespace kapsel::runtime {
namespace {

constexpr char kExecErrnoPayload[] = "kapsel.dev/exec-errno";

struct DefaultDevice {
  const char* path;
  int major;
  int minor;
};
// The devices every OCI container gets (runtime-spec config-linux.md, "Default Devices").
constexpr DefaultDevice kDefaultDevices[] = {
    {"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
    {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},
};

int CloneFlagFor(NamespaceType t) {
  switch (t) {
    case NamespaceType::kMount:
      return CLONE_NEWNS;
    case NamespaceType::kPid:
      return CLONE_NEWPID;
    case NamespaceType::kUts:
      return CLONE_NEWUTS;
    case NamespaceType::kIpc:
      return CLONE_NEWIPC;
    case NamespaceType::kNetwork:
      return CLONE_NEWNET;
    case NamespaceType::kCgroup:
      return CLONE_NEWCGROUP;
    case NamespaceType::kUser:
      return CLONE_NEWUSER;
    case NamespaceType::kTime:
      return CLONE_NEWTIME;
  }
  return 0;
}

std::string Relative(const std::string& abs) {
  size_t i = 0;
  while (i < abs.size() && abs[i] == '/') ++i;
  return abs.substr(i);
}

// Expands the spec's mounts into steps. A "cgroup" mount on a v1 host is a read-only tmpfs with
// one cgroup mount per controller under it, as runc does; on v2 it is a single cgroup2 mount.
absl::Status AddMountSteps(const Spec& spec, const LaunchOptions& options, ChildPlan* plan) {
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const Mount& m = spec.mounts[i];
    auto parsed = ParseMountOptions(m.options);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("mounts[", i, "].options: ", parsed.status().message()));
    }
    MountStep step;
    step.target = Relative(m.destination);
    step.display = absl::StrCat(m.type.empty() ? "bind" : m.type, " on ", m.destination);
    bool bind = m.type == "bind" || parsed->bind;
    if (bind) {
      struct stat st;
      if (stat(m.source.c_str(), &st) != 0) {
        return absl::ErrnoToStatus(errno, absl::StrCat("mounts[", i, "].source: stat ", m.source));
      }
      step.file_target = !S_ISDIR(st.st_mode);
      step.source = m.source;
      step.flags = MS_BIND | (parsed->recursive ? MS_REC : 0);
      if (parsed->flags != 0) step.remount_flags = MS_BIND | MS_REMOUNT | parsed->flags;
      step.recursive_read_only = parsed->recursive_read_only;
      step.propagation = parsed->propagation;
      plan->mounts.push_back(std::move(step));
      continue;
    }
    if (m.type == "cgroup" && options.cgroups != nullptr &&
        options.cgroups->mode() == cgroups::Mode::kV1) {
      MountStep tmpfs = step;
      tmpfs.source = "tmpfs";
      tmpfs.fstype = "tmpfs";
      tmpfs.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
      tmpfs.data = "mode=755";
      plan->mounts.push_back(tmpfs);
      for (const char* c :
           {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"}) {
        if (access(absl::StrCat("/sys/fs/cgroup/", c).c_str(), F_OK) != 0) continue;
        MountStep cg;
        cg.target = absl::StrCat(step.target, "/", c);
        cg.source = "cgroup";
        cg.fstype = "cgroup";
        cg.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY;
        cg.data = c;
        cg.display = absl::StrCat("cgroup on ", m.destination, "/", c);
        plan->mounts.push_back(std::move(cg));
      }
      MountStep ro = step;
      ro.remount_only = true;
      ro.remount_flags = MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
      ro.display = absl::StrCat("read-only remount of ", m.destination);
      plan->mounts.push_back(std::move(ro));
      continue;
    }
    step.fstype = m.type == "cgroup" ? "cgroup2" : m.type;
    step.source = m.source.empty() ? step.fstype : m.source;
    step.flags = parsed->flags;
    step.data = parsed->data;
    step.propagation = parsed->propagation;
    plan->mounts.push_back(std::move(step));
  }
  return absl::OkStatus();
}

std::string ErrnoName(int err) {
  // strerrorname_np is glibc 2.32+; keep the human text too.
  const char* name = strerrorname_np(err);
  return name != nullptr ? std::string(name) : absl::StrCat("errno ", err);
}

absl::Status ChildErrorToStatus(const ChildError& e, const ChildPlan& plan, const Spec& spec) {
  ChildStep step = static_cast<ChildStep>(e.step);
  std::string what = ChildStepName(step);
  auto in = [&](size_t n) { return e.index >= 0 && static_cast<size_t>(e.index) < n; };
  switch (step) {
    case ChildStep::kMkdir:
    case ChildStep::kOpenTarget:
    case ChildStep::kMount:
    case ChildStep::kRemount:
    case ChildStep::kRecursiveReadOnly:
      if (in(plan.mounts.size())) what = absl::StrCat(what, " ", plan.mounts[e.index].display);
      break;
    case ChildStep::kDevice:
      if (in(plan.devices.size())) what = absl::StrCat(what, " /", plan.devices[e.index].target);
      break;
    case ChildStep::kSymlink:
      if (in(plan.symlinks.size()))
        what = absl::StrCat(what, " /", plan.symlinks[e.index].linkpath);
      break;
    case ChildStep::kMaskPath:
      if (in(plan.masked_paths.size())) what = absl::StrCat(what, " ", plan.masked_paths[e.index]);
      break;
    case ChildStep::kReadonlyPath:
      if (in(plan.readonly_paths.size()))
        what = absl::StrCat(what, " ", plan.readonly_paths[e.index]);
      break;
    case ChildStep::kSysctl:
      if (in(plan.sysctls.size())) what = absl::StrCat(what, " ", plan.sysctls[e.index].path);
      break;
    case ChildStep::kChdir:
    case ChildStep::kCwdOutside:
      what = absl::StrCat(what, " ", plan.cwd);
      break;
    case ChildStep::kExec:
      what = absl::StrCat("exec \"", spec.process.args[0], "\"");
      break;
    default:
      break;
  }
  absl::Status s = absl::ErrnoToStatus(e.err, absl::StrCat(what, " (", ErrnoName(e.err), ")"));
  if (step == ChildStep::kExec) s.SetPayload(kExecErrnoPayload, absl::Cord(absl::StrCat(e.err)));
  return s;
}

}  // namespace

const char* ChildStepName(ChildStep step) {
  switch (step) {
    case ChildStep::kSync:
      return "wait for parent";
    case ChildStep::kSetns:
      return "setns";
    case ChildStep::kSetUserIds:
      return "become root of the user namespace";
    case ChildStep::kUnshareCgroup:
      return "unshare cgroup namespace";
    case ChildStep::kStdio:
      return "set up stdio";
    case ChildStep::kTerminal:
      return "make the console the controlling terminal";
    case ChildStep::kRootPropagation:
      return "set propagation of /";
    case ChildStep::kBindRoot:
      return "bind rootfs";
    case ChildStep::kOpenRoot:
      return "open rootfs";
    case ChildStep::kMkdir:
      return "create mount point for";
    case ChildStep::kOpenTarget:
      return "open mount point for";
    case ChildStep::kMount:
      return "mount";
    case ChildStep::kRemount:
      return "remount";
    case ChildStep::kRecursiveReadOnly:
      return "make read-only recursively (mount_setattr)";
    case ChildStep::kDevice:
      return "create device";
    case ChildStep::kSymlink:
      return "create symlink";
    case ChildStep::kPivotRoot:
      return "pivot_root";
    case ChildStep::kReadonlyRoot:
      return "remount / read-only";
    case ChildStep::kMaskPath:
      return "mask";
    case ChildStep::kReadonlyPath:
      return "make read-only";
    case ChildStep::kSysctl:
      return "write sysctl";
    case ChildStep::kHostname:
      return "sethostname";
    case ChildStep::kDomainname:
      return "setdomainname";
    case ChildStep::kOomScoreAdj:
      return "write oom_score_adj";
    case ChildStep::kRlimit:
      return "setrlimit";
    case ChildStep::kCapBounding:
      return "drop from the capability bounding set";
    case ChildStep::kKeepCaps:
      return "prctl PR_SET_KEEPCAPS";
    case ChildStep::kSetgroups:
      return "setgroups";
    case ChildStep::kSetgid:
      return "setresgid";
    case ChildStep::kSetuid:
      return "setresuid";
    case ChildStep::kCapset:
      return "capset";
    case ChildStep::kAmbient:
      return "set ambient capabilities";
    case ChildStep::kNoNewPrivs:
      return "prctl PR_SET_NO_NEW_PRIVS";
    case ChildStep::kChdir:
      return "chdir";
    case ChildStep::kCwdOutside:
      return "working directory is outside the container:";
    case ChildStep::kCloseFds:
      return "close_range";
    case ChildStep::kSeccomp:
      return "load seccomp filter";
    case ChildStep::kExec:
      return "exec";
  }
  return "unknown step";
}

std::string CgroupPathFor(const Spec& spec, const std::string& container_id) {
  if (!spec.cgroups_path.empty()) return Relative(spec.cgroups_path);
  return absl::StrCat("kapsel/", container_id);
}

absl::StatusOr<ChildPlan> BuildPlan(const Spec& spec, const LaunchOptions& options) {
  ChildPlan plan;
  if (spec.seccomp) {
    auto filter = seccomp::CompileCached(*spec.seccomp, options.seccomp_cache_dir);
    if (!filter.ok()) return filter.status();
    plan.seccomp_program = std::move(filter->program);
    plan.seccomp_flags = filter->flags;
    plan.seccomp_early = !spec.process.no_new_privileges;
  }
  plan.rootfs = spec.root_path;
  struct stat st;
  if (stat(plan.rootfs.c_str(), &st) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("root.path: stat ", plan.rootfs));
  if (!S_ISDIR(st.st_mode))
    return absl::InvalidArgumentError(
        absl::StrCat("root.path: ", plan.rootfs, " is not a directory"));
  plan.readonly_root = spec.root_readonly;
  plan.new_mount_ns = false;
  for (const auto& ns : spec.namespaces) {
    if (ns.type == NamespaceType::kMount && ns.path.empty()) plan.new_mount_ns = true;
    if (ns.type == NamespaceType::kUser && ns.path.empty()) plan.new_user_ns = true;
    if (ns.type == NamespaceType::kCgroup && ns.path.empty()) plan.new_cgroup_ns = true;
  }
  if (!plan.new_mount_ns) {
    return absl::InvalidArgumentError("linux.namespaces: a new mount namespace is required");
  }
  static const std::map<std::string, unsigned long> kPropagation = {
      {"", MS_PRIVATE},       {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE},
      {"slave", MS_SLAVE},    {"rslave", MS_SLAVE},          {"shared", MS_SHARED},
      {"rshared", MS_SHARED}, {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE}};
  plan.root_propagation = kPropagation.at(spec.rootfs_propagation);

  if (auto s = AddMountSteps(spec, options, &plan); !s.ok()) return s;
  if (spec.process.terminal) {
    if (options.console_path.empty()) {
      return absl::InvalidArgumentError("process.terminal: the launcher gave no console (pty)");
    }
    MountStep console;
    console.source = options.console_path;
    console.target = "dev/console";
    console.flags = MS_BIND;
    console.file_target = true;
    console.display = "console on /dev/console";
    plan.mounts.push_back(std::move(console));
    plan.terminal = true;
  }
  for (const auto& d : kDefaultDevices) {
    DeviceStep dev;
    dev.target = d.path;
    dev.mode = S_IFCHR | 0666;
    dev.dev = makedev(d.major, d.minor);
    dev.host_path = absl::StrCat("/", d.path);
    plan.devices.push_back(std::move(dev));
  }
  for (const auto& d : spec.devices) {
    DeviceStep dev;
    dev.target = Relative(d.path);
    mode_t kind = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    dev.mode = kind | d.file_mode;
    dev.dev = makedev(d.major, d.minor);
    dev.uid = d.uid;
    dev.gid = d.gid;
    dev.host_path = d.path;
    plan.devices.push_back(std::move(dev));
  }
  plan.symlinks = {{"/proc/self/fd", "dev/fd"},       {"/proc/self/fd/0", "dev/stdin"},
                   {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
                   {"pts/ptmx", "dev/ptmx"},          {"/proc/kcore", "dev/core"}};
  plan.masked_paths = spec.masked_paths;
  plan.readonly_paths = spec.readonly_paths;
  for (const auto& [key, value] : spec.sysctl) {
    // Only namespaced sysctls make sense in a container (see runc's validator).
    bool ok = absl::StartsWith(key, "net.") || absl::StartsWith(key, "fs.mqueue.") ||
              key == "kernel.msgmax" || key == "kernel.msgmnb" || key == "kernel.msgmni" ||
              key == "kernel.sem" || key == "kernel.shmall" || key == "kernel.shmmax" ||
              key == "kernel.shmmni" || key == "kernel.shm_rmid_forced" ||
              key == "kernel.domainname" || key == "kernel.hostname";
    if (!ok)
      return absl::InvalidArgumentError(
          absl::StrCat("linux.sysctl.", key, ": not a namespaced sysctl"));
    if (absl::StartsWith(key, "net.") && !spec.HasNamespace(NamespaceType::kNetwork)) {
      return absl::InvalidArgumentError(
          absl::StrCat("linux.sysctl.", key, ": needs a network namespace"));
    }
    std::string path = absl::StrCat("/proc/sys/", absl::StrReplaceAll(key, {{".", "/"}}));
    plan.sysctls.push_back({path, value});
  }
  plan.hostname = spec.hostname;
  plan.set_hostname = !spec.hostname.empty();
  plan.domainname = spec.domainname;
  plan.set_domainname = !spec.domainname.empty();
  if (spec.process.oom_score_adj) plan.oom_score_adj = absl::StrCat(*spec.process.oom_score_adj);
  plan.rlimits = spec.process.rlimits;
  plan.last_cap = ReadLastCap();
  if (spec.process.capabilities) {
    plan.set_caps = true;
    plan.caps = *spec.process.capabilities;
  }
  plan.uid = spec.process.user.uid;
  plan.gid = spec.process.user.gid;
  plan.groups = spec.process.user.additional_gids;
  if (spec.process.user.umask) {
    plan.set_umask = true;
    plan.umask = *spec.process.user.umask;
  }
  plan.no_new_privs = spec.process.no_new_privileges;
  plan.cwd = spec.process.cwd;

  plan.args = spec.process.args;
  plan.env = spec.process.env;
  for (auto& a : plan.args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : plan.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.exec_candidates = ExecCandidates(plan.args[0], plan.env);
  plan.stdin_fd = options.stdin_fd;
  plan.stdout_fd = options.stdout_fd;
  plan.stderr_fd = options.stderr_fd;
  if (plan.stdin_fd < 0 || plan.stdout_fd < 0 || plan.stderr_fd < 0) {
    return absl::InvalidArgumentError("launch: stdin, stdout and stderr fds are required");
  }
  return plan;
}

int ReadLastCap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int v = 40;
  if (!(in >> v)) return 40;
  return v;
}

std::vector<std::string> ExecCandidates(const std::string& arg0,
                                        const std::vector<std::string>& env) {
  if (arg0.find('/') != std::string::npos) return {arg0};
  std::vector<std::string> candidates;
  std::string path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& e : env) {
    if (absl::StartsWith(e, "PATH=")) path_var = e.substr(5);
  }
  for (absl::string_view dir : absl::StrSplit(path_var, ':', absl::SkipEmpty())) {
    candidates.push_back(absl::StrCat(dir, "/", arg0));
  }
  if (candidates.empty()) candidates.push_back(arg0);
  return candidates;
}

int ExecErrno(const absl::Status& status) {
  auto payload = status.GetPayload(kExecErrnoPayload);
  if (!payload) return 0;
  int err = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &err)) return 0;
  return err;
}

namespace {

// Makes the container's process inside the user namespace `user_ns_fd`, with the namespaces in
// `clone_flags` owned by it. setns(CLONE_NEWUSER) needs a single-threaded caller and would take
// our own privileges away, so a short-lived helper joins it and clones the process with
// CLONE_PARENT: the process is our child, as with a plain clone3. The helper reports the pid, or
// the errno of the step that failed as a negative number.
absl::StatusOr<pid_t> CloneInUserNamespace(int user_ns_fd, uint64_t clone_flags,
                                           const ChildPlan& plan) {
  int report_pipe[2];
  if (pipe2(report_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  linux::UniqueFd report_read(report_pipe[0]), report_write(report_pipe[1]);
  struct clone_args helper_args = {};
  helper_args.exit_signal = SIGCHLD;
  long helper = linux::RawClone3(&helper_args);
  if (helper < 0) return absl::ErrnoToStatus(errno, "clone3 (user namespace helper)");
  if (helper == 0) {
    long answer;
    if (setns(user_ns_fd, CLONE_NEWUSER) != 0) {
      answer = -errno;
    } else {
      struct clone_args args = {};
      // clone3 wants no exit_signal with CLONE_PARENT: the process gets ours (SIGCHLD).
      args.flags = clone_flags | CLONE_PARENT;
      answer = linux::RawClone3(&args);
      if (answer == 0) RunChild(plan);  // never returns
      if (answer < 0) answer = -errno;
    }
    ssize_t unused = write(report_write.get(), &answer, sizeof(answer));
    (void)unused;
    _exit(0);
  }
  report_write.Close();
  long answer = 0;
  ssize_t n;
  do {
    n = read(report_read.get(), &answer, sizeof(answer));
  } while (n < 0 && errno == EINTR);
  while (waitpid(static_cast<pid_t>(helper), nullptr, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof(answer)) return absl::InternalError("the user namespace helper died");
  if (answer < 0) {
    return absl::ErrnoToStatus(static_cast<int>(-answer),
                               "linux.namespaces: clone3 in the joined user namespace");
  }
  return static_cast<pid_t>(answer);
}

}  // namespace

absl::StatusOr<LaunchedProcess> Launch(const Spec& spec, const LaunchOptions& options) {
  auto plan_or = BuildPlan(spec, options);
  if (!plan_or.ok()) return plan_or.status();
  ChildPlan& plan = *plan_or;

  // Namespaces to join are opened here, while paths still mean the host's view.
  std::vector<linux::UniqueFd> ns_fds;
  linux::UniqueFd join_pid_ns;
  linux::UniqueFd join_user_ns;
  uint64_t clone_flags = 0;
  for (const auto& ns : spec.namespaces) {
    if (ns.path.empty()) {
      if (ns.type != NamespaceType::kCgroup) clone_flags |= CloneFlagFor(ns.type);
      continue;
    }
    linux::UniqueFd fd(open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("linux.namespaces: open ", ns.path));
    if (ns.type == NamespaceType::kPid) {
      // setns(CLONE_NEWPID) changes only the namespace of the caller's future children, so it is
      // done here, around clone3, rather than in the child.
      join_pid_ns = std::move(fd);
      continue;
    }
    if (ns.type == NamespaceType::kUser) {
      join_user_ns = std::move(fd);
      continue;
    }
    plan.setns_fds.push_back(fd.get());
    plan.setns_types.push_back(CloneFlagFor(ns.type));
    ns_fds.push_back(std::move(fd));
  }
  // A joined user namespace comes first, so that the others are joined with its privileges. When
  // namespaces are also made, they must belong to it: a helper joins it and makes the process
  // (CloneInUserNamespace). Only a lone join (an exec) is done by the child itself.
  if (join_user_ns && clone_flags == 0) {
    plan.setns_fds.insert(plan.setns_fds.begin(), join_user_ns.get());
    plan.setns_types.insert(plan.setns_types.begin(), CLONE_NEWUSER);
    ns_fds.push_back(std::move(join_user_ns));
  }
  plan.become_userns_root = plan.new_user_ns || static_cast<bool>(join_user_ns);

  LaunchedProcess result;
  if (options.cgroups != nullptr) {
    result.cgroup_path = CgroupPathFor(spec, options.container_id);
    if (auto s = options.cgroups->Create(result.cgroup_path, spec.resources); !s.ok()) {
      (void)options.cgroups->Destroy(result.cgroup_path);
      return s;
    }
  }
  absl::Cleanup remove_cgroup = [&] {
    if (options.cgroups != nullptr) (void)options.cgroups->Destroy(result.cgroup_path);
  };

  int sync_pipe[2];
  int error_pipe[2];
  if (pipe2(sync_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  linux::UniqueFd sync_read(sync_pipe[0]), sync_write(sync_pipe[1]);
  if (pipe2(error_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  linux::UniqueFd error_read(error_pipe[0]), error_write(error_pipe[1]);
  plan.sync_fd = sync_read.get();
  plan.error_fd = error_write.get();

  linux::UniqueFd own_pid_ns;
  if (join_pid_ns) {
    own_pid_ns.Reset(open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC));
    if (!own_pid_ns) return absl::ErrnoToStatus(errno, "open /proc/self/ns/pid_for_children");
    if (setns(join_pid_ns.get(), CLONE_NEWPID) != 0) {
      return absl::ErrnoToStatus(errno, "linux.namespaces: setns into the pid namespace");
    }
  }
  absl::Cleanup restore_pid_ns = [&] {
    if (own_pid_ns) (void)setns(own_pid_ns.get(), CLONE_NEWPID);
  };
  if (join_user_ns) {
    auto pid = CloneInUserNamespace(join_user_ns.get(), clone_flags, plan);
    std::move(restore_pid_ns).Invoke();
    if (!pid.ok()) return pid.status();
    result.pid = *pid;
    // We are its parent (CLONE_PARENT) and have not reaped it: the pid cannot be reused.
    auto pidfd = linux::PidfdOpen(*pid);
    if (!pidfd.ok()) {
      kill(*pid, SIGKILL);
      while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return pidfd.status();
    }
    result.pidfd = *std::move(pidfd);
  } else {
    int pidfd = -1;
    struct clone_args args = {};
    args.flags = clone_flags | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    long pid = linux::RawClone3(&args);
    if (pid < 0) return absl::ErrnoToStatus(errno, "clone3");
    if (pid == 0) {
      RunChild(plan);  // never returns
    }
    std::move(restore_pid_ns).Invoke();
    result.pid = static_cast<pid_t>(pid);
    result.pidfd.Reset(pidfd);
  }
  sync_read.Close();
  error_write.Close();

  auto kill_child = [&] {
    kill(result.pid, SIGKILL);
    int status;
    while (waitpid(result.pid, &status, 0) < 0 && errno == EINTR) {
    }
  };

  if (options.cgroups != nullptr) {
    if (auto s = options.cgroups->AddProcess(result.cgroup_path, result.pid); !s.ok()) {
      kill_child();
      return s;
    }
  }
  if (plan.new_user_ns) {
    for (auto [file, maps] :
         {std::pair{"uid_map", &spec.uid_mappings}, std::pair{"gid_map", &spec.gid_mappings}}) {
      auto s =
          cgroups::WriteFile(absl::StrCat("/proc/", result.pid, "/", file), MappingText(*maps));
      if (!s.ok()) {
        kill_child();
        return s;
      }
    }
  }
  char go = 1;
  if (write(sync_write.get(), &go, 1) != 1) {
    int err = errno;
    kill_child();
    return absl::ErrnoToStatus(err, "write to the child's sync pipe");
  }
  sync_write.Close();

  ChildError e;
  ssize_t n;
  do {
    n = read(error_read.get(), &e, sizeof(e));
  } while (n < 0 && errno == EINTR);
  if (n == 0) {
    // The pipe closed on execve: the container's process runs.
    std::move(remove_cgroup).Cancel();
    return result;
  }
  kill_child();
  if (n != sizeof(e)) return absl::InternalError("short read from the child's error pipe");
  return ChildErrorToStatus(e, plan, spec);
}

}  // namespace kapsel::runtime
