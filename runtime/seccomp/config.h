#pragma once

// The typed form of an OCI runtime-spec `linux.seccomp` object (config-linux.md, "Seccomp"). Plain
// data with no libseccomp in it: parse.h fills it from config.json, docker_profile.h from a
// Docker-format profile, compile.h turns it into a BPF program.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kapsel::runtime::seccomp {

enum class Action {
  kKill,         // SCMP_ACT_KILL: kills the thread (SCMP_ACT_KILL_THREAD)
  kKillProcess,  // SCMP_ACT_KILL_PROCESS
  kKillThread,   // SCMP_ACT_KILL_THREAD
  kTrap,         // SCMP_ACT_TRAP: SIGSYS
  kErrno,        // SCMP_ACT_ERRNO: fails with errno_ret (EPERM when unset)
  kTrace,        // SCMP_ACT_TRACE: notifies a ptrace tracer with errno_ret as the message
  kAllow,        // SCMP_ACT_ALLOW
  kLog,          // SCMP_ACT_LOG: allowed and logged
  kNotify,       // SCMP_ACT_NOTIFY: needs a listener, which kapsel does not have
};

enum class Op {
  kNotEqual,
  kLessThan,
  kLessEqual,
  kEqual,
  kGreaterEqual,
  kGreaterThan,
  kMaskedEqual
};

struct Arg {
  uint32_t index = 0;  // 0..5, the syscall's argument
  uint64_t value = 0;
  uint64_t value_two = 0;  // the value compared with for kMaskedEqual (value is the mask)
  Op op = Op::kEqual;
};

struct Syscall {
  std::vector<std::string> names;
  Action action = Action::kAllow;
  std::optional<uint32_t> errno_ret;  // kErrno, kTrace
  std::vector<Arg> args;              // all must match (a logical AND)
};

struct Config {
  Action default_action = Action::kAllow;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // "SCMP_ARCH_X86_64", ...; empty: the native one only
  std::vector<std::string> flags;          // "SECCOMP_FILTER_FLAG_LOG", ...
  std::vector<Syscall> syscalls;
};

// The OCI names ("SCMP_ACT_ERRNO", "SCMP_CMP_MASKED_EQ"): for error messages and JSON output.
const char* ActionName(Action action);
const char* OpName(Op op);
// The reverse; nullopt for an unknown name.
std::optional<Action> ActionByName(const std::string& name);
std::optional<Op> OpByName(const std::string& name);
// Whether `name` is an architecture libseccomp knows ("SCMP_ARCH_X86_64", ...).
bool IsKnownArchitecture(const std::string& name);
// Whether `name` is a seccomp filter flag of the runtime-spec.
bool IsKnownFlag(const std::string& name);

}  // namespace kapsel::runtime::seccomp
