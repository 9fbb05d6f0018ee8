#include "store/fs_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::store {

using ::kapsel::linux::UniqueFd;

namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

}  // namespace

absl::StatusOr<std::vector<std::string>> ListDirAt(int fd, const std::string& what) {
  // A descriptor of our own, since closedir closes the one fdopendir was given.
  int copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (copy < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", what));
  UniqueDir dir(fdopendir(copy));
  if (dir == nullptr) {
    int err = errno;
    close(copy);
    return absl::ErrnoToStatus(err, absl::StrCat("fdopendir ", what));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* ent = readdir(dir.get())) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  if (errno != 0) return absl::ErrnoToStatus(errno, absl::StrCat("readdir ", what));
  return names;
}

namespace {

absl::Status TreeSizeAt(int dirfd, const std::string& what, std::set<std::pair<dev_t, ino_t>>& seen,
                        int64_t& total) {
  absl::StatusOr<std::vector<std::string>> names = ListDirAt(dirfd, what);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    std::string child_what = absl::StrCat(what, "/", name);
    struct stat st;
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("stat ", child_what));
    }
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second) continue;
      total += st.st_size;
    } else if (S_ISDIR(st.st_mode)) {
      int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", child_what));
      UniqueFd child(fd);
      absl::Status status = TreeSizeAt(child.get(), child_what, seen, total);
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("mkdir: empty path");
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", prefix));
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("mkdir ", path, ": not a directory"));
  }
  return absl::OkStatus();
}

absl::Status RemoveChildrenAt(int dirfd, const std::string& what) {
  absl::StatusOr<std::vector<std::string>> names = ListDirAt(dirfd, what);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    absl::Status status = RemoveEntryAt(dirfd, name, absl::StrCat(what, "/", name));
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status RemoveEntryAt(int dirfd, const std::string& name, const std::string& what) {
  if (unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return absl::OkStatus();
  if (errno != EISDIR && errno != EPERM) {
    return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", what));
  }
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", what));
  UniqueFd child(fd);
  // Without root, a read-only directory cannot be emptied; it is about to go, so open it up.
  fchmod(child.get(), 0700);
  absl::Status status = RemoveChildrenAt(child.get(), what);
  if (!status.ok()) return status;
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", what));
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", parent));
  }
  UniqueFd parent_fd(fd);
  return RemoveEntryAt(parent_fd.get(), name, path);
}

absl::Status FsyncDir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  UniqueFd dir(fd);
  if (fsync(dir.get()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::string> MakeTempDir(const std::string& parent, const std::string& prefix) {
  std::string templ = absl::StrCat(parent, "/", prefix, "XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdtemp ", templ));
  }
  return templ;
}

absl::StatusOr<int64_t> TreeSize(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  UniqueFd dir(fd);
  std::set<std::pair<dev_t, ino_t>> seen;
  int64_t total = 0;
  absl::Status status = TreeSizeAt(dir.get(), path, seen, total);
  if (!status.ok()) return status;
  return total;
}

}  // namespace kapsel::store
