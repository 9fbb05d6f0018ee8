#pragma once

// A cap on the API connections kapseld holds open at once. gRPC owns each connection's fd once it
// is handed over and closes it without telling the daemon, so connections are known by their
// socket's inode, and the set is pruned against /proc/self/fd when it reaches the cap.

#include <sys/types.h>

#include <cstddef>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kapsel::daemon {

class ConnectionLimit {
 public:
  explicit ConnectionLimit(size_t max_open) : max_open_(max_open) {}

  // True when connection `fd` may be admitted (it is then counted until its socket is closed);
  // false when `max_open` connections are still open. Thread-safe.
  bool Admit(int fd);
  // Connections counted as open, after a prune.
  size_t Open();

  // The default cap: a quarter of kapseld's RLIMIT_NOFILE soft limit (the rest is for
  // containers' logs, shims and SQLite), at least 16 and at most 4096.
  static size_t DefaultMax();

 private:
  void PruneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_open_;
  absl::Mutex mu_;
  std::set<ino_t> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kapsel::daemon
