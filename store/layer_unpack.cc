#include "store/layer_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"
#include "store/digest.h"
#include "store/fs_util.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;

constexpr size_t kReadBlockSize = 1 << 16;
constexpr absl::string_view kWhiteoutPrefix = ".wh.";
constexpr absl::string_view kOpaqueWhiteout = ".wh..wh..opq";
// RESOLVE_IN_ROOT treats target_dir as "/" for absolute symlinks and "..", so a symlink inside
// the layer can never lead out of it; magic links (/proc/self/fd/...) are refused outright.
constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

struct ArchiveReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using UniqueArchive = std::unique_ptr<struct archive, ArchiveReadDeleter>;

// Opens `path` ourselves so a missing or unreadable file gets its errno (NotFound, ...).
absl::StatusOr<UniqueFd> OpenBlob(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  return UniqueFd(fd);
}

absl::Status ArchiveError(struct archive* a, absl::string_view what) {
  const char* msg = archive_error_string(a);
  int err = archive_errno(a);
  std::string text = absl::StrCat(what, ": ", msg != nullptr ? msg : "unknown libarchive error");
  // Read errors from the kernel keep their code; malformed input is the caller's argument.
  if (err == ENOENT || err == EACCES || err == EIO || err == ENOSPC) {
    return absl::ErrnoToStatus(err, text);
  }
  return absl::InvalidArgumentError(text);
}

absl::StatusOr<UniqueArchive> NewReader(int fd, const std::string& path, bool raw) {
  UniqueArchive a(archive_read_new());
  if (a == nullptr) return absl::ResourceExhaustedError("archive_read_new");
  archive_read_support_filter_all(a.get());
  if (raw) {
    archive_read_support_format_raw(a.get());
  } else {
    archive_read_support_format_all(a.get());
  }
  if (archive_read_open_fd(a.get(), fd, kReadBlockSize) != ARCHIVE_OK) {
    return ArchiveError(a.get(), absl::StrCat("read layer ", path));
  }
  return a;
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// Splits an entry name into components, dropping empty and "." ones. Refuses absolute names and
// ".." components.
absl::StatusOr<std::vector<std::string>> SplitEntryPath(absl::string_view name,
                                                        absl::string_view what) {
  if (absl::StartsWith(name, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", Quote(name), ": absolute path refused"));
  }
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", Quote(name), ": \"..\" component refused"));
    }
    out.emplace_back(part);
  }
  return out;
}

// A directory whose mode, owner, times and xattrs are applied after all entries, so that a
// read-only mode does not block its children and their creation does not reset its mtime.
struct DeferredDir {
  std::vector<std::string> components;
  mode_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  struct timespec times[2] = {};
  std::vector<std::pair<std::string, std::string>> xattrs;
};

class Unpacker {
 public:
  Unpacker(struct archive* a, int root_fd, std::string target_dir)
      : a_(a), root_fd_(root_fd), target_(std::move(target_dir)), is_root_(geteuid() == 0) {}

  absl::Status Run() {
    while (true) {
      struct archive_entry* entry = nullptr;
      int r = archive_read_next_header(a_, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_WARN) {
        spdlog::warn("unpack {}: {}", target_, archive_error_string(a_));
      } else if (r != ARCHIVE_OK) {
        return ArchiveError(a_, absl::StrCat("read layer entry header for ", target_));
      }
      absl::Status status = Entry(entry);
      if (!status.ok()) return status;
    }
    // Deepest first: a parent's restrictive mode must not keep us from reaching its children.
    std::stable_sort(dirs_.begin(), dirs_.end(), [](const DeferredDir& a, const DeferredDir& b) {
      return a.components.size() > b.components.size();
    });
    for (const DeferredDir& d : dirs_) {
      absl::Status status = FinishDir(d);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Fail(int err, absl::string_view entry, absl::string_view call) {
    std::string what = absl::StrCat("layer entry ", Quote(entry), ": ", call);
    // Resolution failures inside the root mean the archive is malformed or hostile (a symlink
    // loop, a symlink or file where a directory should be, a path leaving the root).
    if (err == ELOOP || err == ENOTDIR || err == EXDEV) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": ", strerror(err)));
    }
    return absl::ErrnoToStatus(err, what);
  }

  // Opens (O_PATH) the directory named by `components` inside the root, creating missing ones
  // (mode 0755) when `create` is set.
  absl::StatusOr<UniqueFd> OpenDir(const std::vector<std::string>& components, size_t count,
                                   bool create, absl::string_view entry) {
    int fd = linux::RawOpenat2(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, kResolve);
    if (fd < 0) return Fail(errno, entry, absl::StrCat("openat2 ", target_));
    UniqueFd cur(fd);
    std::string prefix;
    for (size_t i = 0; i < count; ++i) {
      prefix = prefix.empty() ? components[i] : absl::StrCat(prefix, "/", components[i]);
      fd = linux::RawOpenat2(root_fd_, prefix.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                             kResolve);
      if (fd < 0 && errno == ENOENT && create) {
        // `cur` was resolved inside the root, and mkdirat does not follow a final symlink.
        if (mkdirat(cur.get(), components[i].c_str(), 0755) != 0 && errno != EEXIST) {
          return Fail(errno, entry, absl::StrCat("mkdirat ", prefix));
        }
        fd = linux::RawOpenat2(root_fd_, prefix.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                               kResolve);
      }
      if (fd < 0) return Fail(errno, entry, absl::StrCat("openat2 ", prefix));
      cur.Reset(fd);
    }
    return cur;
  }

  // The parent directory of the entry `components`, created as needed. Tar writers emit a
  // directory's entries together, so the parent of the previous entry is kept open and reused
  // when it is the same: one path walk (openat2 per component) per directory instead of one per
  // entry. Only a removal can change what the cached path leads to, and one that removes the
  // cached directory or an ancestor has another parent, which already replaces the cache; still,
  // any removal (ClearLeaf) or whiteout marks it stale, so that this holds without that
  // argument. Borrowed: valid until the next ParentDir.
  absl::StatusOr<int> ParentDir(const std::vector<std::string>& components,
                                absl::string_view entry) {
    const size_t count = components.size() - 1;
    if (cached_dir_fd_ && !cached_dir_stale_ && cached_dir_.size() == count &&
        std::equal(cached_dir_.begin(), cached_dir_.end(), components.begin())) {
      return cached_dir_fd_.get();
    }
    cached_dir_fd_.Reset();
    cached_dir_.clear();
    cached_dir_stale_ = false;
    absl::StatusOr<UniqueFd> dir = OpenDir(components, count, /*create=*/true, entry);
    if (!dir.ok()) return dir.status();
    cached_dir_.assign(components.begin(), components.begin() + count);
    cached_dir_fd_ = *std::move(dir);
    return cached_dir_fd_.get();
  }

  // Makes room for a new entry `name` in `dirfd`: a later tar entry replaces an earlier one,
  // except that a directory over a directory merges.
  absl::Status ClearLeaf(int dirfd, const std::string& name, bool new_is_dir, bool* merge_dir,
                         absl::string_view entry) {
    *merge_dir = false;
    struct stat st;
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return absl::OkStatus();
      return Fail(errno, entry, absl::StrCat("fstatat ", name));
    }
    if (new_is_dir && S_ISDIR(st.st_mode)) {
      *merge_dir = true;
      return absl::OkStatus();
    }
    // `dirfd` may be the cached parent: it stays open for the rest of this entry, the next one
    // walks its path again.
    cached_dir_stale_ = true;
    return RemoveEntryAt(dirfd, name, absl::StrCat(target_, "/", entry));
  }

  absl::Status Entry(struct archive_entry* entry) {
    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) return absl::InvalidArgumentError("layer entry without a name");
    std::string name = raw_name;
    absl::StatusOr<std::vector<std::string>> components = SplitEntryPath(name, "layer entry");
    if (!components.ok()) return components.status();
    mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);

    if (components->empty()) {
      // "./": the root of the layer itself.
      if (hardlink != nullptr || type != AE_IFDIR) {
        return absl::InvalidArgumentError(
            absl::StrCat("layer entry ", Quote(name), ": the root must be a directory"));
      }
      dirs_.push_back(DirFromEntry(entry, {}));
      return absl::OkStatus();
    }

    const std::string& leaf = components->back();
    if (absl::StartsWith(leaf, kWhiteoutPrefix)) return Whiteout(*components, name);

    absl::StatusOr<int> parent = ParentDir(*components, name);
    if (!parent.ok()) return parent.status();
    int pfd = *parent;

    bool merge_dir = false;
    absl::Status status =
        ClearLeaf(pfd, leaf, hardlink == nullptr && type == AE_IFDIR, &merge_dir, name);
    if (!status.ok()) return status;
    ForgetDirs(*components, /*subtree=*/!merge_dir);

    if (hardlink != nullptr) return HardLink(pfd, leaf, hardlink, name);

    switch (type) {
      case AE_IFDIR:
        if (!merge_dir && mkdirat(pfd, leaf.c_str(), 0700) != 0) {
          return Fail(errno, name, absl::StrCat("mkdirat ", leaf));
        }
        dirs_.push_back(DirFromEntry(entry, *components));
        return absl::OkStatus();
      case AE_IFREG:
        return RegularFile(pfd, leaf, entry, name);
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(entry);
        if (target == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("layer entry ", Quote(name), ": symlink without a target"));
        }
        // The target is stored as text and never followed here.
        if (symlinkat(target, pfd, leaf.c_str()) != 0) {
          return Fail(errno, name, absl::StrCat("symlinkat ", leaf));
        }
        return Finish(pfd, leaf, entry, name, /*chmod=*/false);
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        dev_t dev = type == AE_IFIFO
                        ? 0
                        : makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
        if (mknodat(pfd, leaf.c_str(), type | 0600, dev) != 0) {
          if (errno == EPERM && !is_root_) {
            spdlog::warn("unpack {}: skipping device node {} (not root)", target_, name);
            return absl::OkStatus();
          }
          return Fail(errno, name, absl::StrCat("mknodat ", leaf));
        }
        return Finish(pfd, leaf, entry, name, /*chmod=*/true);
      }
      case AE_IFSOCK:
        // Sockets are meaningless in an image; tar implementations skip them too.
        return absl::OkStatus();
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("layer entry ", Quote(name), ": unsupported file type ", type));
    }
  }

  // Drops the deferred metadata of a path that a later entry replaces: of the path itself and,
  // when `subtree` is set (the old directory was removed), of everything below it.
  void ForgetDirs(const std::vector<std::string>& components, bool subtree) {
    std::erase_if(dirs_, [&](const DeferredDir& d) {
      if (d.components.size() < components.size()) return false;
      if (!subtree && d.components.size() != components.size()) return false;
      return std::equal(components.begin(), components.end(), d.components.begin());
    });
  }

  absl::Status Whiteout(const std::vector<std::string>& components, const std::string& name) {
    cached_dir_stale_ = true;
    const std::string& leaf = components.back();
    if (leaf == kOpaqueWhiteout) {
      absl::StatusOr<UniqueFd> dir = OpenDir(components, components.size() - 1, true, name);
      if (!dir.ok()) return dir.status();
      // fsetxattr needs a real descriptor, not O_PATH; reopening "." stays on the same inode.
      int fd = openat(dir->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Fail(errno, name, "open .");
      UniqueFd real(fd);
      if (fsetxattr(real.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        // trusted.* needs CAP_SYS_ADMIN; without it a single layer loses nothing.
        if ((errno == EPERM || errno == ENOTSUP) && !is_root_) {
          spdlog::warn("unpack {}: cannot mark {} opaque (not root)", target_, name);
          return absl::OkStatus();
        }
        return Fail(errno, name, "fsetxattr trusted.overlay.opaque");
      }
      return absl::OkStatus();
    }
    absl::string_view hidden = absl::string_view(leaf).substr(kWhiteoutPrefix.size());
    if (absl::StartsWith(hidden, kWhiteoutPrefix)) {
      // Other ".wh..wh." names are aufs metadata (.wh..wh.plnk, .wh..wh.aufs): nothing to do.
      return absl::OkStatus();
    }
    if (hidden.empty() || hidden == "." || hidden == ".." || absl::StrContains(hidden, '/')) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry ", Quote(name), ": invalid whiteout"));
    }
    // Each layer is its own overlayfs lowerdir, so a whiteout is stored the way overlayfs reads
    // it: a 0:0 character device in place of the hidden name (Documentation/filesystems/
    // overlayfs.rst, "whiteouts and opaque directories"). An entry of this same layer with that
    // name wins: the OCI spec lets a whiteout hide only lower layers' files, so an existing one
    // is kept, and a later one replaces the device (ClearLeaf).
    absl::StatusOr<UniqueFd> dir = OpenDir(components, components.size() - 1, true, name);
    if (!dir.ok()) return dir.status();
    std::string target(hidden);
    struct stat st;
    if (fstatat(dir->get(), target.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return absl::OkStatus();
    if (errno != ENOENT) return Fail(errno, name, absl::StrCat("fstatat ", target));
    if (mknodat(dir->get(), target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      // mknod needs CAP_MKNOD; an unprivileged unpack (tests) loses only the hiding.
      if (errno == EPERM && !is_root_) {
        spdlog::warn("unpack {}: cannot make whiteout {} (not root)", target_, name);
        return absl::OkStatus();
      }
      return Fail(errno, name, absl::StrCat("mknodat whiteout ", target));
    }
    return absl::OkStatus();
  }

  absl::Status HardLink(int pfd, const std::string& leaf, const char* link_target,
                        const std::string& name) {
    absl::StatusOr<std::vector<std::string>> target =
        SplitEntryPath(link_target, "hardlink target");
    if (!target.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry ", Quote(name), ": ", target.status().message()));
    }
    if (target->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry ", Quote(name), ": hardlink to the layer root"));
    }
    absl::StatusOr<UniqueFd> tdir = OpenDir(*target, target->size() - 1, false, name);
    if (!tdir.ok()) return tdir.status();
    struct stat st;
    if (fstatat(tdir->get(), target->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, name, absl::StrCat("hardlink target ", link_target));
    }
    if (S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer entry ", Quote(name), ": hardlink to a directory"));
    }
    // flags = 0: a symlink target is linked itself, never followed.
    if (linkat(tdir->get(), target->back().c_str(), pfd, leaf.c_str(), 0) != 0) {
      return Fail(errno, name, absl::StrCat("linkat ", link_target));
    }
    return absl::OkStatus();
  }

  absl::Status RegularFile(int pfd, const std::string& leaf, struct archive_entry* entry,
                           const std::string& name) {
    int raw = openat(pfd, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw < 0) return Fail(errno, name, absl::StrCat("openat ", leaf));
    UniqueFd fd(raw);
    // Data arrives as (offset, bytes) blocks; skipped ranges become holes. A size claim in the
    // header costs nothing until the bytes actually arrive.
    int64_t end = 0;
    while (true) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(a_, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) {
        // At EOF libarchive reports the logical size; a trailing hole is made by ftruncate.
        if (offset > end && ftruncate(fd.get(), offset) != 0) {
          return Fail(errno, name, "ftruncate");
        }
        break;
      }
      if (r < ARCHIVE_WARN) {
        return ArchiveError(a_, absl::StrCat("read layer entry ", Quote(name)));
      }
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t w = pwrite(fd.get(), p, size, offset);
        if (w < 0) {
          if (errno == EINTR) continue;
          return Fail(errno, name, "pwrite");
        }
        p += w;
        size -= static_cast<size_t>(w);
        offset += w;
      }
      if (offset > end) end = offset;
    }
    if (is_root_ && fchown(fd.get(), archive_entry_uid(entry), archive_entry_gid(entry)) != 0) {
      return Fail(errno, name, "fchown");
    }
    // After fchown, which clears setuid/setgid.
    if (fchmod(fd.get(), archive_entry_perm(entry) & 07777) != 0) {
      return Fail(errno, name, "fchmod");
    }
    absl::Status status = SetXattrs(fd.get(), Xattrs(entry), name);
    if (!status.ok()) return status;
    struct timespec times[2];
    Times(entry, times);
    if (futimens(fd.get(), times) != 0) return Fail(errno, name, "futimens");
    return absl::OkStatus();
  }

  // Owner, mode and times of a just-created non-regular, non-directory entry.
  absl::Status Finish(int pfd, const std::string& leaf, struct archive_entry* entry,
                      const std::string& name, bool chmod) {
    if (is_root_ && fchownat(pfd, leaf.c_str(), archive_entry_uid(entry), archive_entry_gid(entry),
                             AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, name, "fchownat");
    }
    // The node was created by us a moment ago and is not a symlink.
    if (chmod && fchmodat(pfd, leaf.c_str(), archive_entry_perm(entry) & 07777, 0) != 0) {
      return Fail(errno, name, "fchmodat");
    }
    struct timespec times[2];
    Times(entry, times);
    if (utimensat(pfd, leaf.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return Fail(errno, name, "utimensat");
    }
    return absl::OkStatus();
  }

  absl::Status FinishDir(const DeferredDir& d) {
    std::string name = d.components.empty() ? "." : absl::StrJoin(d.components, "/");
    int raw;
    if (d.components.empty()) {
      raw = openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
      absl::StatusOr<UniqueFd> parent = OpenDir(d.components, d.components.size() - 1, false, name);
      if (!parent.ok()) return parent.status();
      raw = openat(parent->get(), d.components.back().c_str(),
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (raw < 0) return Fail(errno, name, "open directory");
    UniqueFd fd(raw);
    if (is_root_ && fchown(fd.get(), d.uid, d.gid) != 0) return Fail(errno, name, "fchown");
    if (fchmod(fd.get(), d.mode) != 0) return Fail(errno, name, "fchmod");
    absl::Status status = SetXattrs(fd.get(), d.xattrs, name);
    if (!status.ok()) return status;
    if (futimens(fd.get(), d.times) != 0) return Fail(errno, name, "futimens");
    return absl::OkStatus();
  }

  absl::Status SetXattrs(int fd, const std::vector<std::pair<std::string, std::string>>& xattrs,
                         const std::string& name) {
    for (const auto& [key, value] : xattrs) {
      if (fsetxattr(fd, key.c_str(), value.data(), value.size(), 0) != 0) {
        if ((errno == EPERM || errno == ENOTSUP) && !is_root_) {
          spdlog::warn("unpack {}: cannot set xattr {} on {} (not root)", target_, key, name);
          continue;
        }
        return Fail(errno, name, absl::StrCat("fsetxattr ", key));
      }
    }
    return absl::OkStatus();
  }

  static std::vector<std::pair<std::string, std::string>> Xattrs(struct archive_entry* entry) {
    std::vector<std::pair<std::string, std::string>> out;
    if (archive_entry_xattr_reset(entry) <= 0) return out;
    const char* key = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
      if (key == nullptr) continue;
      out.emplace_back(key, std::string(static_cast<const char*>(value), size));
    }
    return out;
  }

  static void Times(struct archive_entry* entry, struct timespec times[2]) {
    times[1].tv_sec = archive_entry_mtime(entry);
    times[1].tv_nsec = archive_entry_mtime_nsec(entry);
    if (archive_entry_atime_is_set(entry)) {
      times[0].tv_sec = archive_entry_atime(entry);
      times[0].tv_nsec = archive_entry_atime_nsec(entry);
    } else {
      times[0] = times[1];
    }
  }

  DeferredDir DirFromEntry(struct archive_entry* entry, std::vector<std::string> components) {
    DeferredDir d;
    d.components = std::move(components);
    d.mode = archive_entry_perm(entry) & 07777;
    d.uid = archive_entry_uid(entry);
    d.gid = archive_entry_gid(entry);
    Times(entry, d.times);
    d.xattrs = Xattrs(entry);
    return d;
  }

  struct archive* a_;
  int root_fd_;
  // ParentDir's cache: the parent directory of the last entry, resolved inside the root.
  std::vector<std::string> cached_dir_;
  UniqueFd cached_dir_fd_;
  bool cached_dir_stale_ = false;
  std::string target_;
  bool is_root_;
  std::vector<DeferredDir> dirs_;
};

}  // namespace

absl::StatusOr<std::string> DiffIdOf(const std::string& blob_path) {
  absl::StatusOr<UniqueFd> fd = OpenBlob(blob_path);
  if (!fd.ok()) return fd.status();
  absl::StatusOr<UniqueArchive> a = NewReader(fd->get(), blob_path, /*raw=*/true);
  if (!a.ok()) return a.status();
  struct archive_entry* entry = nullptr;
  int r = archive_read_next_header(a->get(), &entry);
  Sha256 hash;
  if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
    std::vector<char> buf(kReadBlockSize);
    while (true) {
      la_ssize_t n = archive_read_data(a->get(), buf.data(), buf.size());
      if (n < 0) return ArchiveError(a->get(), absl::StrCat("read layer ", blob_path));
      if (n == 0) break;
      hash.Update(buf.data(), static_cast<size_t>(n));
    }
  } else if (r != ARCHIVE_EOF) {
    return ArchiveError(a->get(), absl::StrCat("read layer ", blob_path));
  }
  return hash.Final();
}

absl::Status UnpackLayer(const std::string& blob_path, const std::string& target_dir) {
  int raw = open(target_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", target_dir));
  UniqueFd root(raw);
  // An empty target means no entry of ours can collide with something we did not create.
  absl::StatusOr<std::vector<std::string>> existing = ListDirAt(root.get(), target_dir);
  if (!existing.ok()) return existing.status();
  if (!existing->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("unpack into ", target_dir, ": directory is not empty"));
  }
  absl::StatusOr<UniqueFd> blob = OpenBlob(blob_path);
  if (!blob.ok()) return blob.status();
  absl::StatusOr<UniqueArchive> a = NewReader(blob->get(), blob_path, /*raw=*/false);
  if (!a.ok()) return a.status();
  Unpacker unpacker(a->get(), root.get(), target_dir);
  return unpacker.Run();
}

}  // namespace kapsel::store
