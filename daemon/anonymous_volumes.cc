#include "daemon/anonymous_volumes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {
namespace {

using linux::UniqueFd;

constexpr int kMaxDepth = 128;

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

// Owner and mode of `st` onto the open file `fd` (mode after owner: chown clears setuid bits).
absl::Status CopyAttributes(int fd, const struct stat& st, const std::string& where) {
  if (fchown(fd, st.st_uid, st.st_gid) != 0) return Errno(absl::StrCat("chown ", where));
  if (fchmod(fd, st.st_mode & 07777) != 0) return Errno(absl::StrCat("chmod ", where));
  return absl::OkStatus();
}

absl::Status CopyFile(int src_dir, int dst_dir, const char* name, const struct stat& st,
                      const std::string& where) {
  UniqueFd in(openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return Errno(absl::StrCat("open ", where));
  UniqueFd out(openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return Errno(absl::StrCat("create ", where));
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(out.get(), in.get(), nullptr, static_cast<size_t>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(absl::StrCat("copy ", where));
    if (n == 0) break;  // the file shrank
    left -= n;
  }
  return CopyAttributes(out.get(), st, where);
}

// Copies the entries of directory `src` into directory `dst`, walking with *at calls that never
// follow a symlink, so nothing outside the rootfs is read.
absl::Status CopyTree(int src, int dst, const std::string& where, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": nested deeper than ", kMaxDepth));
  }
  int listing = dup(src);
  if (listing < 0) return Errno(absl::StrCat("dup ", where));
  DIR* d = fdopendir(listing);
  if (d == nullptr) {
    close(listing);
    return Errno(absl::StrCat("opendir ", where));
  }
  std::unique_ptr<DIR, int (*)(DIR*)> owned(d, closedir);
  while (struct dirent* e = readdir(d)) {
    const char* name = e->d_name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    const std::string path = absl::StrCat(where, "/", name);
    struct stat st;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      return Errno(absl::StrCat("stat ", path));
    if (S_ISDIR(st.st_mode)) {
      if (mkdirat(dst, name, 0700) != 0) return Errno(absl::StrCat("mkdir ", path));
      UniqueFd from(openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd to(openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!from || !to) return Errno(absl::StrCat("open ", path));
      if (auto s = CopyTree(from.get(), to.get(), path, depth + 1); !s.ok()) return s;
      if (auto s = CopyAttributes(to.get(), st, path); !s.ok()) return s;
    } else if (S_ISREG(st.st_mode)) {
      if (auto s = CopyFile(src, dst, name, st, path); !s.ok()) return s;
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = readlinkat(src, name, target.data(), target.size());
      if (n < 0) return Errno(absl::StrCat("readlink ", path));
      target.resize(static_cast<size_t>(n));
      if (symlinkat(target.c_str(), dst, name) != 0) return Errno(absl::StrCat("symlink ", path));
      if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return Errno(absl::StrCat("chown ", path));
    } else if (S_ISFIFO(st.st_mode)) {
      if (mkfifoat(dst, name, st.st_mode & 07777) != 0) return Errno(absl::StrCat("mkfifo ", path));
      if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
        return Errno(absl::StrCat("chown ", path));
    }
    // Device nodes and sockets are not copied: a volume holds data.
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> AnonymousVolumePaths(const nlohmann::json& image_config,
                                                              const v1::ContainerSpec& request) {
  std::vector<std::string> out;
  auto volumes = image_config.find("Volumes");
  if (volumes == image_config.end() || !volumes->is_object()) return out;
  std::set<std::string> taken;
  for (const v1::MountSpec& m : request.mounts()) {
    taken.insert(std::filesystem::path(m.container_path()).lexically_normal().string());
  }
  for (const auto& [path, unused] : request.tmpfs()) taken.insert(path);
  std::set<std::string> paths;
  for (const auto& [path, unused] : volumes->items()) {
    std::string normal = std::filesystem::path(path).lexically_normal().string();
    if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    if (path.empty() || path.front() != '/' || normal == "/" || absl::StrContains(normal, "..")) {
      return absl::InvalidArgumentError(
          absl::StrCat("image Volumes: \"", path, "\" is not an absolute path other than /"));
    }
    if (taken.count(normal) == 0) paths.insert(normal);
  }
  return std::vector<std::string>(paths.begin(), paths.end());
}

absl::Status AddAnonymousVolumes(const std::vector<std::string>& paths, const std::string& rootfs,
                                 const std::string& dir, v1::ContainerSpec* request, uid_t root_uid,
                                 gid_t root_gid) {
  if (paths.empty()) return absl::OkStatus();
  const std::string volumes = absl::StrCat(dir, "/volumes");
  if (mkdir(volumes.c_str(), 0700) != 0 && errno != EEXIST) return Errno("mkdir " + volumes);
  if (root_gid != 0 && (chown(volumes.c_str(), 0, root_gid) != 0 || chmod(volumes.c_str(), 0710))) {
    return Errno("chown " + volumes);
  }
  UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return Errno("open " + rootfs);
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    const std::string host = absl::StrCat(volumes, "/", i);
    if (mkdir(host.c_str(), 0755) != 0) return Errno("mkdir " + host);
    UniqueFd to(open(host.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!to) return Errno("open " + host);
    // What the image has there, resolved inside the rootfs; nothing there: an empty volume.
    // O_DIRECTORY: a fifo there fails with ENOTDIR instead of blocking the open.
    UniqueFd from(linux::RawOpenat2(root.get(), path.substr(1).c_str(),
                                    O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0,
                                    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
    if (!from && errno == ENOTDIR) {
      return absl::InvalidArgumentError(
          absl::StrCat("image Volumes: ", path, " is not a directory in the image"));
    }
    if (!from && errno != ENOENT) return Errno(absl::StrCat("open ", path, " in ", rootfs));
    if (from) {
      struct stat st;
      if (fstat(from.get(), &st) != 0) return Errno("stat " + path);
      const std::string where = absl::StrCat("volume ", path);
      if (auto s = CopyTree(from.get(), to.get(), where, 0); !s.ok()) return s;
      if (auto s = CopyAttributes(to.get(), st, where); !s.ok()) return s;
    } else if (root_uid != 0 && fchown(to.get(), root_uid, root_gid) != 0) {
      return Errno("chown " + host);
    }
    v1::MountSpec* mount = request->add_mounts();
    mount->set_host_path(host);
    mount->set_container_path(path);
  }
  return absl::OkStatus();
}

}  // namespace kapsel::daemon
