#include "runtime/seccomp/default_profile.h"

#include <errno.h>
#include <sched.h>

#include <iterator>
#include <string>
#include <vector>

namespace kapsel::runtime::seccomp {
namespace {

// Allowed for every container.
const char* const kAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
};

// The namespace flags of clone(2): a clone with any of them needs CAP_SYS_ADMIN.
constexpr uint64_t kNamespaceCloneFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWCGROUP;
static_assert(kNamespaceCloneFlags == 2114060288, "the mask of Docker's default profile");

// personality(2) values a container may set: PER_LINUX, PER_LINUX32, UNAME26 | PER_LINUX,
// UNAME26 | PER_LINUX32, and 0xffffffff (query).
constexpr uint64_t kPersonalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

struct CapGroup {
  const char* cap;
  std::vector<const char*> names;
};

DockerRule Rule(const std::vector<const char*>& names, Action action = Action::kAllow) {
  DockerRule rule;
  rule.syscall.names.assign(names.begin(), names.end());
  rule.syscall.action = action;
  return rule;
}

DockerProfile Build() {
  DockerProfile p;
  p.default_action = Action::kErrno;
  p.default_errno_ret = EPERM;
  p.arch_map = {
      {"SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM"}},
      {"SCMP_ARCH_MIPS64", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
      {"SCMP_ARCH_MIPS64N32", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"}},
      {"SCMP_ARCH_MIPSEL64", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
      {"SCMP_ARCH_MIPSEL64N32", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"}},
      {"SCMP_ARCH_S390X", {"SCMP_ARCH_S390"}},
      {"SCMP_ARCH_RISCV64", {}},
  };
  p.rules.push_back(Rule(std::vector<const char*>(std::begin(kAllowed), std::end(kAllowed))));

  // ptrace without CAP_SYS_PTRACE only from 4.8 on, where it no longer bypasses seccomp.
  DockerRule ptrace = Rule({"process_vm_readv", "process_vm_writev", "ptrace"});
  ptrace.includes.min_kernel = "4.8";
  p.rules.push_back(ptrace);

  // Any socket but AF_VSOCK (40).
  DockerRule socket = Rule({"socket"});
  socket.syscall.args = {{0, 40, 0, Op::kNotEqual}};
  p.rules.push_back(socket);

  for (uint64_t persona : kPersonalities) {
    DockerRule rule = Rule({"personality"});
    rule.syscall.args = {{0, persona, 0, Op::kEqual}};
    p.rules.push_back(rule);
  }

  auto for_arches = [&](std::vector<const char*> names, std::vector<std::string> arches) {
    DockerRule rule = Rule(names);
    rule.includes.arches = std::move(arches);
    p.rules.push_back(rule);
  };
  for_arches({"sync_file_range2", "swapcontext"}, {"ppc64le"});
  for_arches({"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
              "cacheflush", "set_tls"},
             {"arm", "arm64"});
  for_arches({"arch_prctl"}, {"amd64", "x32"});
  for_arches({"modify_ldt"}, {"amd64", "x32", "x86"});
  for_arches({"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"},
             {"s390", "s390x"});
  for_arches({"riscv_flush_icache"}, {"riscv64"});

  const CapGroup groups[] = {
      {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
      {"CAP_SYS_ADMIN",
       {"bpf",           "clone",         "clone3",      "fanotify_init",   "fsconfig",
        "fsmount",       "fsopen",        "fspick",      "lookup_dcookie",  "mount",
        "mount_setattr", "move_mount",    "open_tree",   "perf_event_open", "quotactl",
        "quotactl_fd",   "setdomainname", "sethostname", "setns",           "syslog",
        "umount",        "umount2",       "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_CHROOT", {"chroot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE",
       {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
        "ptrace"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
      {"CAP_SYSLOG", {"syslog"}},
      {"CAP_BPF", {"bpf"}},
      {"CAP_PERFMON", {"perf_event_open"}},
  };
  for (const CapGroup& g : groups) {
    DockerRule rule = Rule(g.names);
    rule.includes.caps = {g.cap};
    p.rules.push_back(rule);
    if (std::string(g.cap) != "CAP_SYS_ADMIN") continue;
    // Without CAP_SYS_ADMIN: clone without namespace flags (the flags are argument 0, or 1 on
    // s390), and clone3, whose flags live in memory the filter cannot read, fails with ENOSYS.
    DockerRule clone = Rule({"clone"});
    clone.syscall.args = {{0, kNamespaceCloneFlags, 0, Op::kMaskedEqual}};
    clone.excludes.caps = {"CAP_SYS_ADMIN"};
    clone.excludes.arches = {"s390", "s390x"};
    p.rules.push_back(clone);
    DockerRule clone_s390 = Rule({"clone"});
    clone_s390.syscall.args = {{1, kNamespaceCloneFlags, 0, Op::kMaskedEqual}};
    clone_s390.includes.arches = {"s390", "s390x"};
    clone_s390.excludes.caps = {"CAP_SYS_ADMIN"};
    p.rules.push_back(clone_s390);
    DockerRule clone3 = Rule({"clone3"}, Action::kErrno);
    clone3.syscall.errno_ret = ENOSYS;
    clone3.excludes.caps = {"CAP_SYS_ADMIN"};
    p.rules.push_back(clone3);
  }
  return p;
}

}  // namespace

const DockerProfile& DefaultDockerProfile() {
  static const DockerProfile* const kProfile = new DockerProfile(Build());
  return *kProfile;
}

absl::StatusOr<Config> DefaultProfile(const ProfileEnvironment& env) {
  return ResolveDockerProfile(DefaultDockerProfile(), env);
}

}  // namespace kapsel::runtime::seccomp
