#include "daemon/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::files {

absl::Status WriteFileAtomic(const std::string& path, absl::string_view text, mode_t mode,
                             bool durable) {
  const std::string tmp = path + ".tmp";
  {
    linux::UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", tmp));
    // open(2) applies the umask; the mode is meant exactly.
    if (fchmod(fd.get(), mode) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", tmp));
    if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", tmp));
    }
    if (durable && fsync(fd.get()) != 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", tmp));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", tmp));
  if (durable) {
    const std::string dir = path.substr(0, path.find_last_of('/') + 1);
    linux::UniqueFd dfd(open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd || fsync(dfd.get()) != 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", dir));
  }
  return absl::OkStatus();
}

}  // namespace kapsel::files
