#pragma once

// Wrappers for the system calls glibc 2.36 lacks or wraps poorly. Each returns a StatusOr naming
// the call; the minimum kernel is noted beside each one.

#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::linux {

// Builds a Status from errno for `what` (a call and its argument, e.g. "mount /proc").
absl::Status ErrnoStatus(int err, absl::string_view what);

// clone3(2), Linux 5.3. Behaves like fork(2) when args->stack is 0: returns 0 in the child, the
// child's pid in the parent. Async-signal-safe; usable in the child path.
long RawClone3(struct clone_args* args);

// pidfd_open(2), Linux 5.3.
absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid);

// Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat; 0 when unreadable. Field 22, the start
// time in clock ticks since boot, together with the pid names a process across pid reuse.
uint64_t ProcStatField(pid_t pid, size_t n);
// pidfd_send_signal(2), Linux 5.1.
absl::Status PidfdSendSignal(int pidfd, int sig);

// The rest of `fd`'s bytes, at most `limit` of them. `what` names the file in the errors: errno
// statuses ("read <what>"), InvalidArgument "<what>: larger than <limit> bytes".
absl::StatusOr<std::string> ReadAllBounded(int fd, size_t limit, absl::string_view what);
// The whole of file `path`, at most `limit` bytes; NotFound when it does not exist (open's errno
// otherwise), and ReadAllBounded's errors.
absl::StatusOr<std::string> ReadFileBounded(const std::string& path, size_t limit);

// openat2(2), Linux 5.6. `resolve` takes RESOLVE_* flags.
absl::StatusOr<UniqueFd> Openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t mode,
                                 uint64_t resolve);
// The raw form, for the child path: returns the fd or -1 with errno set.
int RawOpenat2(int dirfd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve);

// pivot_root(2). Raw: returns 0 or -1 with errno set.
int RawPivotRoot(const char* new_root, const char* put_old);

// close_range(2), Linux 5.9 (CLOSE_RANGE_CLOEXEC: 5.11). Raw.
int RawCloseRange(unsigned first, unsigned last, unsigned flags);

}  // namespace kapsel::linux
