#pragma once

// One epoll loop on its own thread that watches fds (shim pidfds, later OOM eventfds and timers)
// and runs a callback when one becomes readable. Callbacks run on the loop's thread, one at a
// time; a callback's watch is removed before it runs (one-shot). Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {

class Supervisor {
 public:
  using Callback = std::function<void(int fd)>;  // fd: the watched fd, closed afterwards
  Supervisor() = default;
  ~Supervisor();
  absl::Status Start();
  void Stop();
  // Takes ownership of fd; runs cb once when it is readable, then closes fd.
  absl::Status WatchOnce(linux::UniqueFd fd, Callback cb);
  // Runs cb every time fd (owned by the caller) is readable, until Unwatch(fd). The caller must
  // Unwatch before closing fd; Unwatch may be called from inside a callback.
  absl::Status Watch(int fd, Callback cb);
  void Unwatch(int fd);

 private:
  void Loop();
  linux::UniqueFd epoll_;
  linux::UniqueFd wake_;  // eventfd that ends the loop
  std::thread thread_;
  absl::Mutex mu_;
  std::map<int, std::pair<linux::UniqueFd, Callback>> watches_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::shared_ptr<Callback>> persistent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kapsel::daemon
