#include "runtime/seccomp/config.h"

#include <cstring>

namespace kapsel::runtime::seccomp {
namespace {

struct ActionEntry {
  Action action;
  const char* name;
};
constexpr ActionEntry kActions[] = {
    {Action::kKill, "SCMP_ACT_KILL"},
    {Action::kKillProcess, "SCMP_ACT_KILL_PROCESS"},
    {Action::kKillThread, "SCMP_ACT_KILL_THREAD"},
    {Action::kTrap, "SCMP_ACT_TRAP"},
    {Action::kErrno, "SCMP_ACT_ERRNO"},
    {Action::kTrace, "SCMP_ACT_TRACE"},
    {Action::kAllow, "SCMP_ACT_ALLOW"},
    {Action::kLog, "SCMP_ACT_LOG"},
    {Action::kNotify, "SCMP_ACT_NOTIFY"},
};

struct OpEntry {
  Op op;
  const char* name;
};
constexpr OpEntry kOps[] = {
    {Op::kNotEqual, "SCMP_CMP_NE"},           {Op::kLessThan, "SCMP_CMP_LT"},
    {Op::kLessEqual, "SCMP_CMP_LE"},          {Op::kEqual, "SCMP_CMP_EQ"},
    {Op::kGreaterEqual, "SCMP_CMP_GE"},       {Op::kGreaterThan, "SCMP_CMP_GT"},
    {Op::kMaskedEqual, "SCMP_CMP_MASKED_EQ"},
};

// The architectures of runtime-spec config-linux.md that libseccomp 2.5 supports.
constexpr const char* kArchitectures[] = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
};

constexpr const char* kFlags[] = {
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};

}  // namespace

const char* ActionName(Action action) {
  for (const auto& a : kActions) {
    if (a.action == action) return a.name;
  }
  return "SCMP_ACT_UNKNOWN";
}

const char* OpName(Op op) {
  for (const auto& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "SCMP_CMP_UNKNOWN";
}

std::optional<Action> ActionByName(const std::string& name) {
  for (const auto& a : kActions) {
    if (name == a.name) return a.action;
  }
  return std::nullopt;
}

std::optional<Op> OpByName(const std::string& name) {
  for (const auto& o : kOps) {
    if (name == o.name) return o.op;
  }
  return std::nullopt;
}

bool IsKnownArchitecture(const std::string& name) {
  for (const char* a : kArchitectures) {
    if (name == a) return true;
  }
  return false;
}

bool IsKnownFlag(const std::string& name) {
  for (const char* f : kFlags) {
    if (name == f) return true;
  }
  return false;
}

}  // namespace kapsel::runtime::seccomp
