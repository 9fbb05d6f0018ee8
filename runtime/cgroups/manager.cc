#include "runtime/cgroups/manager.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::runtime::cgroups {

absl::StatusOr<Mode> DetectMode(const std::string& root) {
  struct statfs fs;
  if (statfs(root.c_str(), &fs) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("statfs ", root));
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return Mode::kV2;
  if (fs.f_type == TMPFS_MAGIC) return Mode::kV1;  // legacy or hybrid: controllers below a tmpfs
  return absl::FailedPreconditionError(
      absl::StrCat(root, " is neither cgroup2 nor a tmpfs of cgroup v1 controllers"));
}

absl::StatusOr<std::unique_ptr<Manager>> NewManager(const std::string& root) {
  auto mode = DetectMode(root);
  if (!mode.ok()) return mode.status();
  if (*mode == Mode::kV2) return NewV2Manager(root);
  return NewV1Manager(root);
}

absl::Status WriteFile(const std::string& path, const std::string& value) {
  linux::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  ssize_t n = write(fd.get(), value.data(), value.size());
  if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("write ", value, " to ", path));
  if (static_cast<size_t>(n) != value.size()) {
    return absl::InternalError(absl::StrCat("short write to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  linux::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace kapsel::runtime::cgroups
