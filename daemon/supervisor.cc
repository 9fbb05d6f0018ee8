#include "daemon/supervisor.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace kapsel::daemon {

Supervisor::~Supervisor() { Stop(); }

absl::Status Supervisor::Start() {
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return absl::ErrnoToStatus(errno, "epoll_create1");
  wake_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) return absl::ErrnoToStatus(errno, "eventfd");
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = wake_.get();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl add eventfd");
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Supervisor::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t unused = write(wake_.get(), &one, sizeof(one));
  (void)unused;
  thread_.join();
}

absl::Status Supervisor::WatchOnce(linux::UniqueFd fd, Callback cb) {
  absl::MutexLock lock(&mu_);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = fd.get();
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl add fd ", fd.get()));
  }
  int key = fd.get();
  watches_[key] = {std::move(fd), std::move(cb)};
  return absl::OkStatus();
}

absl::Status Supervisor::Watch(int fd, Callback cb) {
  absl::MutexLock lock(&mu_);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl add fd ", fd));
  }
  persistent_[fd] = std::make_shared<Callback>(std::move(cb));
  return absl::OkStatus();
}

void Supervisor::Unwatch(int fd) {
  absl::MutexLock lock(&mu_);
  if (persistent_.erase(fd) > 0) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void Supervisor::Loop() {
  struct epoll_event events[32];
  for (;;) {
    int n = epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      Callback cb;
      linux::UniqueFd owned;
      {
        absl::MutexLock lock(&mu_);
        if (auto p = persistent_.find(fd); p != persistent_.end()) {
          std::shared_ptr<Callback> keep = p->second;
          mu_.Unlock();
          (*keep)(fd);
          mu_.Lock();
          continue;
        }
        auto it = watches_.find(fd);
        if (it == watches_.end()) continue;
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        owned = std::move(it->second.first);
        cb = std::move(it->second.second);
        watches_.erase(it);
      }
      cb(owned.get());
    }
  }
}

}  // namespace kapsel::daemon
