#pragma once

// Compiles a seccomp config into a classic BPF program with libseccomp, in the parent. The child
// of the launch only hands the program to seccomp(2), without libseccomp, allocation or locks.

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/seccomp/config.h"

namespace kapsel::runtime::seccomp {

struct Filter {
  std::vector<struct sock_filter> program;
  unsigned int flags = 0;  // SECCOMP_FILTER_FLAG_* for seccomp(SECCOMP_SET_MODE_FILTER)
};

// Builds the filter. Syscall names this libseccomp does not know are skipped, as runc does: a
// profile names syscalls of every architecture and kernel, and one unknown here cannot be called
// here either (the default action still applies to its number on other ABIs of the filter).
// SCMP_ACT_NOTIFY is Unimplemented: kapsel has no seccomp listener. SECCOMP_FILTER_FLAG_TSYNC is
// accepted and ignored (the container's init is single-threaded when it loads the filter), as is
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (it only applies to a listener).
absl::StatusOr<Filter> Compile(const Config& config);

// Compile through a cache of compiled programs in `cache_dir` (kept by root under the exec root):
// one file per distinct config, holding the config's canonical JSON and its program. A file is
// used only when it is a regular file owned by root, writable by nobody else, and its JSON equals
// this config's byte for byte; otherwise the config is compiled and the file written again
// (through a temporary file and rename). libseccomp takes milliseconds for Docker's profile, and
// every container and exec with the same profile gets the same program. An empty `cache_dir`
// compiles without a cache; a cache that cannot be written only costs the compile.
absl::StatusOr<Filter> CompileCached(const Config& config, const std::string& cache_dir);

}  // namespace kapsel::runtime::seccomp
