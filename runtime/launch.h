#pragma once

// Starting a container's init from an OCI spec: the parent half of the runtime core. The parent
// prepares everything (plan, cgroup, namespace fds, id maps); the child only carries out the plan
// (child_plan.h). Call from a single-threaded process (the shim, or a test).

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cgroups/manager.h"
#include "runtime/child_plan.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/spec.h"

namespace kapsel::runtime {

struct LaunchOptions {
  std::string container_id;  // used for the default cgroup path kapsel/<id>
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  // With process.terminal: the host path of the pty slave that stdio is, bound to /dev/console.
  std::string console_path;
  cgroups::Manager* cgroups = nullptr;  // null: no cgroup (tests of the namespaces alone)
  // Where compiled seccomp programs are cached (seccomp::CompileCached); empty: no cache.
  std::string seccomp_cache_dir;
};

struct LaunchedProcess {
  pid_t pid = 0;
  linux::UniqueFd pidfd;
  std::string cgroup_path;  // relative to the cgroup root; empty when no cgroup was made
};

// Builds the child's plan from a validated spec. Pure apart from reading a few host facts
// (cap_last_cap, cgroup mode); unit-testable.
absl::StatusOr<ChildPlan> BuildPlan(const Spec& spec, const LaunchOptions& options);

// Creates the container's init and lets it run up to and including execve. On error nothing is
// left: the child is reaped and the cgroup removed. When the execve itself failed, the status
// carries the errno; see ExecErrno.
absl::StatusOr<LaunchedProcess> Launch(const Spec& spec, const LaunchOptions& options);

// The errno of a failed execve in a status from Launch, or 0 when the failure was elsewhere.
int ExecErrno(const absl::Status& status);

// The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap; 40 if
// unreadable).
int ReadLastCap();

// The paths execve(2) tries for args[0]: args[0] itself when it has a slash, else each entry of
// PATH in `env` (KEY=VALUE; a default PATH when there is none) joined with args[0].
std::vector<std::string> ExecCandidates(const std::string& arg0,
                                        const std::vector<std::string>& env);

// The cgroup path the spec asks for, or kapsel/<id>.
std::string CgroupPathFor(const Spec& spec, const std::string& container_id);

}  // namespace kapsel::runtime
