#include "daemon/connection_limit.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string_view>

#include "absl/strings/numbers.h"

namespace kapsel::daemon {

bool ConnectionLimit::Admit(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  absl::MutexLock lock(&mu_);
  if (open_.size() >= max_open_) PruneLocked();
  if (open_.size() >= max_open_) return false;
  // An inode seen before was closed and reused by the kernel: counted once either way.
  open_.insert(st.st_ino);
  return true;
}

size_t ConnectionLimit::Open() {
  absl::MutexLock lock(&mu_);
  PruneLocked();
  return open_.size();
}

void ConnectionLimit::PruneLocked() {
  std::set<ino_t> live;
  int dir_fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return;  // nothing known to be closed: keep counting them all
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return;
  }
  while (struct dirent* e = readdir(dir)) {
    char target[64];
    ssize_t n = readlinkat(dir_fd, e->d_name, target, sizeof(target) - 1);
    if (n <= 0) continue;
    // "socket:[12345]"
    std::string_view link(target, n);
    constexpr std::string_view kPrefix = "socket:[";
    if (link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']') continue;
    link = link.substr(kPrefix.size(), link.size() - kPrefix.size() - 1);
    uint64_t ino;
    if (absl::SimpleAtoi(absl::string_view(link.data(), link.size()), &ino)) {
      live.insert(static_cast<ino_t>(ino));
    }
  }
  closedir(dir);
  for (auto it = open_.begin(); it != open_.end();) {
    it = live.contains(*it) ? std::next(it) : open_.erase(it);
  }
}

size_t ConnectionLimit::DefaultMax() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  return std::clamp<size_t>(rl.rlim_cur / 4, 16, 4096);
}

}  // namespace kapsel::daemon
