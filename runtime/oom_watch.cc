#include "runtime/oom_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kapsel::runtime {

absl::StatusOr<OomWatch> OomWatch::Open(const cgroups::Manager& manager, const std::string& path) {
  OomWatch w;
  w.mode_ = manager.mode();
  w.dir_ = manager.MemoryDir(path);
  if (w.dir_.empty())
    return absl::FailedPreconditionError("no memory cgroup controller to watch for OOM kills");
  if (w.mode_ == cgroups::Mode::kV1) {
    const std::string control = w.dir_ + "/memory.oom_control";
    w.control_.Reset(open(control.c_str(), O_RDONLY | O_CLOEXEC));
    if (!w.control_) return absl::ErrnoToStatus(errno, absl::StrCat("open ", control));
    w.fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!w.fd_) return absl::ErrnoToStatus(errno, "eventfd");
    if (auto s = cgroups::WriteFile(w.dir_ + "/cgroup.event_control",
                                    absl::StrCat(w.fd_.get(), " ", w.control_.get()));
        !s.ok()) {
      return s;
    }
  } else {
    const std::string events = w.dir_ + "/memory.events";
    w.fd_.Reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!w.fd_) return absl::ErrnoToStatus(errno, "inotify_init1");
    if (inotify_add_watch(w.fd_.get(), events.c_str(), IN_MODIFY) < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("inotify_add_watch ", events));
    }
  }
  auto kills = w.ReadKills();
  if (!kills.ok()) return kills.status();
  w.seen_ = *kills;
  return w;
}

absl::StatusOr<uint64_t> OomWatch::ReadKills() const {
  const std::string file =
      dir_ + (mode_ == cgroups::Mode::kV1 ? "/memory.oom_control" : "/memory.events");
  auto text = cgroups::ReadFile(file);
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::vector<absl::string_view> kv = absl::StrSplit(line, ' ');
    uint64_t n = 0;
    if (kv.size() == 2 && kv[0] == "oom_kill" && absl::SimpleAtoi(kv[1], &n)) return n;
  }
  return uint64_t{0};
}

absl::StatusOr<uint64_t> OomWatch::Consume() {
  char buf[4096];
  while (read(fd_.get(), buf, sizeof(buf)) > 0) {
  }
  auto kills = ReadKills();
  if (!kills.ok()) return kills.status();
  uint64_t fresh = *kills > seen_ ? *kills - seen_ : 0;
  seen_ = *kills;
  return fresh;
}

}  // namespace kapsel::runtime
