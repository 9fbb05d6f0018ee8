#pragma once

// The plan the parent hands to the container's init between clone3 and execve. Everything is
// computed in the parent: the child only walks these arrays, makes system calls, and reports the
// first failure as a ChildError on a close-on-exec pipe. It allocates nothing and takes no locks
// (the shim is single-threaded, and the child is a fork-style clone3 of it).

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/spec.h"

namespace kapsel::runtime {

// The step of container setup that failed, reported by the child.
enum class ChildStep : int32_t {
  kSync = 1,
  kSetns,
  kSetUserIds,
  kUnshareCgroup,
  kStdio,
  kTerminal,
  kRootPropagation,
  kBindRoot,
  kOpenRoot,
  kMkdir,
  kOpenTarget,
  kMount,
  kRemount,
  kRecursiveReadOnly,
  kDevice,
  kSymlink,
  kPivotRoot,
  kReadonlyRoot,
  kMaskPath,
  kReadonlyPath,
  kSysctl,
  kHostname,
  kDomainname,
  kOomScoreAdj,
  kRlimit,
  kCapBounding,
  kKeepCaps,
  kSetgroups,
  kSetgid,
  kSetuid,
  kCapset,
  kAmbient,
  kNoNewPrivs,
  kChdir,
  kCwdOutside,
  kCloseFds,
  kSeccomp,
  kExec,
};

struct ChildError {
  int32_t step = 0;
  int32_t index = -1;  // which mount, device, path, ... (-1: not applicable)
  int32_t err = 0;     // errno
};

const char* ChildStepName(ChildStep step);

struct MountStep {
  std::string source;
  std::string target;  // relative to the rootfs, without a leading slash
  std::string fstype;
  std::string data;
  unsigned long flags = 0;
  unsigned long remount_flags = 0;   // nonzero: a second mount(MS_REMOUNT|...) after the first
  unsigned long propagation = 0;     // nonzero: MS_PRIVATE, MS_SLAVE, ... applied last
  bool remount_only = false;         // the step only remounts an earlier mount
  bool recursive_read_only = false;  // mount_setattr(MOUNT_ATTR_RDONLY, AT_RECURSIVE) after
  bool file_target = false;          // create a file, not a directory, as the mount point
  std::string display;               // "proc on /proc", for error messages
};

struct DeviceStep {
  std::string target;  // relative to the rootfs
  mode_t mode = 0;     // S_IFCHR | 0666 ...
  dev_t dev = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string host_path;  // bind-mounted from here when mknod is not allowed (user namespace)
};

struct SymlinkStep {
  std::string target;    // what the link points to
  std::string linkpath;  // relative to the rootfs
};

struct SysctlStep {
  std::string path;  // /proc/sys/...
  std::string value;
};

struct ChildPlan {
  // Namespaces: fds to setns into (opened by the parent), and flags to create with.
  std::vector<int> setns_fds;
  std::vector<int> setns_types;
  bool new_user_ns = false;
  // The process starts in a user namespace it was made in or joined (not an exec): it becomes
  // that namespace's root before anything else.
  bool become_userns_root = false;
  bool new_cgroup_ns = false;
  bool new_mount_ns = false;

  int sync_fd = -1;   // read end: the parent writes one byte when the child may go on (-1: go)
  int error_fd = -1;  // write end, close-on-exec: a ChildError on failure
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  bool terminal = false;  // stdio is a pty slave: make it the controlling terminal

  std::string rootfs;  // absolute host path
  unsigned long root_propagation = 0;
  bool readonly_root = false;
  std::vector<MountStep> mounts;
  std::vector<DeviceStep> devices;
  std::vector<SymlinkStep> symlinks;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::vector<SysctlStep> sysctls;
  std::string hostname;
  std::string domainname;
  bool set_hostname = false;
  bool set_domainname = false;
  std::string oom_score_adj;  // empty: leave as is

  std::vector<Rlimit> rlimits;
  bool set_caps = false;
  Capabilities caps;
  int last_cap = 40;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool set_umask = false;
  mode_t umask = 022;
  bool no_new_privs = false;
  std::string cwd;

  // A seccomp filter compiled in the parent (runtime/seccomp/compile.h); empty: none. It is loaded
  // with seccomp(2) right before execve. Without no_new_privs, loading needs CAP_SYS_ADMIN, so
  // then it is loaded early, before the user and capabilities change (as runc does).
  std::vector<struct sock_filter> seccomp_program;
  unsigned int seccomp_flags = 0;  // SECCOMP_FILTER_FLAG_*
  bool seccomp_early = false;

  // execve(2) candidates: args[0] itself when it has a slash, else each $PATH entry + args[0].
  std::vector<std::string> exec_candidates;
  std::vector<char*> argv;  // null-terminated, pointing into args
  std::vector<char*> envp;  // null-terminated, pointing into env
  std::vector<std::string> args;
  std::vector<std::string> env;
};

// Runs the plan in the child. Never returns: it execs or _exits after reporting the error.
[[noreturn]] void RunChild(const ChildPlan& plan);

}  // namespace kapsel::runtime
