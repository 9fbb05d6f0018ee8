#include "daemon/log_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace kapsel::logs {

absl::Status LogReader::ReadAvailable(const std::function<void(const Record&)>& fn) {
  if (!fd_) {
    fd_.Reset(open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) {
      if (errno == ENOENT) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", path_));
    }
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd_.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", path_));
    }
    if (n == 0) break;
    pending_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      size_t nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      Record rec;
      if (ParseLine(absl::string_view(pending_).substr(start, nl - start), &rec)) fn(rec);
      start = nl + 1;
    }
    pending_.erase(0, start);
  }
  return absl::OkStatus();
}

}  // namespace kapsel::logs
