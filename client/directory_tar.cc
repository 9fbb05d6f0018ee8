#include "client/directory_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/linux/unique_fd.h"
#include "store/archive_sink.h"

namespace kapsel::client {
namespace {

using ::kapsel::linux::UniqueFd;

constexpr size_t kReadBlockSize = 1 << 16;  // bytes

struct ReadDiskDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using UniqueReadDisk = std::unique_ptr<struct archive, ReadDiskDeleter>;
using UniqueWrite = std::unique_ptr<struct archive, WriteDeleter>;
using UniqueEntry = std::unique_ptr<struct archive_entry, EntryDeleter>;

// One entry of the walk, checked; written in the second pass.
struct Entry {
  std::string name;  // relative to the directory, no leading "./"
  mode_t type = 0;   // AE_IFREG, AE_IFDIR or AE_IFLNK
  mode_t perm = 0;
  int64_t size = 0;         // bytes, regular files only
  std::string link_target;  // "/<name inside the directory>", symlinks only
};

absl::Status ArchiveStatus(struct archive* a, absl::string_view what) {
  int err = archive_errno(a);
  const char* text = archive_error_string(a);
  std::string message = absl::StrCat(what, ": ", text != nullptr ? text : "libarchive error");
  return err > 0 ? absl::ErrnoToStatus(err, message) : absl::InternalError(message);
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("realpath ", path));
  }
  return std::string(resolved);
}

// A symlink is kept only when everything it leads to stays inside `root` and ends at a regular
// file or a directory. The target is rewritten from the archive's root, where the daemon's
// reader resolves an absolute target.
absl::StatusOr<std::string> CheckedLinkTarget(const std::string& root, const std::string& name) {
  std::string path = absl::StrCat(root, "/", name);
  char target[PATH_MAX];
  ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
  if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("readlink ", path));
  target[n] = '\0';
  absl::StatusOr<std::string> resolved = RealPath(path);
  if (!resolved.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("load ", root, ": symlink ", name, " -> ",
                                                   target, " does not resolve (",
                                                   resolved.status().message(), ")"));
  }
  absl::string_view inside = *resolved;
  if (!absl::ConsumePrefix(&inside, root) || !absl::ConsumePrefix(&inside, "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("load ", root, ": symlink ", name, " -> ", target, " leaves the directory"));
  }
  struct stat st;
  if (stat(resolved->c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", *resolved));
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("load ", root, ": symlink ", name, " -> ", target,
                     " names neither a regular file nor a directory"));
  }
  return absl::StrCat("/", inside);
}

// First pass: every entry is checked before a byte goes out, so a refused directory sends
// nothing to the daemon.
absl::StatusOr<std::vector<Entry>> Walk(const std::string& root) {
  UniqueReadDisk disk(archive_read_disk_new());
  if (disk == nullptr) return absl::ResourceExhaustedError("archive_read_disk_new failed");
  // Physical: a symlink is reported as one and never followed or descended into.
  archive_read_disk_set_symlink_physical(disk.get());
  archive_read_disk_set_behavior(
      disk.get(), ARCHIVE_READDISK_NO_XATTR | ARCHIVE_READDISK_NO_ACL | ARCHIVE_READDISK_NO_FFLAGS);
  if (archive_read_disk_open(disk.get(), root.c_str()) != ARCHIVE_OK) {
    return ArchiveStatus(disk.get(), absl::StrCat("load ", root));
  }
  UniqueEntry entry(archive_entry_new());
  if (entry == nullptr) return absl::ResourceExhaustedError("archive_entry_new failed");
  std::vector<Entry> entries;
  while (true) {
    int r = archive_read_next_header2(disk.get(), entry.get());
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return ArchiveStatus(disk.get(), absl::StrCat("load ", root));
    const char* raw = archive_entry_pathname(entry.get());
    absl::string_view name = raw != nullptr ? raw : "";
    if (!absl::ConsumePrefix(&name, root)) {
      return absl::InternalError(absl::StrCat("load ", root, ": walk left the directory at ", raw));
    }
    absl::ConsumePrefix(&name, "/");
    mode_t type = archive_entry_filetype(entry.get());
    if (type == AE_IFDIR) archive_read_disk_descend(disk.get());
    if (name.empty()) continue;  // the directory itself
    Entry e;
    e.name = std::string(name);
    e.type = type;
    e.perm = archive_entry_perm(entry.get());
    switch (type) {
      case AE_IFDIR:
        break;
      case AE_IFREG:
        e.size = archive_entry_size(entry.get());
        break;
      case AE_IFLNK: {
        absl::StatusOr<std::string> target = CheckedLinkTarget(root, e.name);
        if (!target.ok()) return target.status();
        e.link_target = *std::move(target);
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "load ", root, ": ", e.name, " is neither a regular file, a directory nor a symlink"));
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// Copies regular file `e` into the archive: exactly the size the walk saw, or an error.
absl::Status CopyFile(struct archive* w, int root_fd, const std::string& root, const Entry& e) {
  std::string path = absl::StrCat(root, "/", e.name);
  UniqueFd fd(openat(root_fd, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", path));
  if (!S_ISREG(st.st_mode) || st.st_size != e.size) {
    return absl::FailedPreconditionError(
        absl::StrCat("load ", root, ": ", e.name, " changed while it was read"));
  }
  std::vector<char> buf(kReadBlockSize);
  int64_t left = e.size;
  while (left > 0) {
    ssize_t n = read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0 || n > left) {
      return absl::FailedPreconditionError(
          absl::StrCat("load ", root, ": ", e.name, " changed while it was read"));
    }
    if (archive_write_data(w, buf.data(), static_cast<size_t>(n)) != n) {
      return ArchiveStatus(w, absl::StrCat("write ", e.name));
    }
    left -= n;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteDirectoryTar(const std::string& dir, const TarSink& sink) {
  absl::StatusOr<std::string> root = RealPath(dir);
  if (!root.ok()) return root.status();
  UniqueFd root_fd(open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", *root));
  absl::StatusOr<std::vector<Entry>> entries = Walk(*root);
  if (!entries.ok()) return entries.status();

  UniqueWrite w(archive_write_new());
  if (w == nullptr) return absl::ResourceExhaustedError("archive_write_new failed");
  store::ByteSinkContext ctx{&sink, absl::OkStatus()};
  if (archive_write_set_format_pax_restricted(w.get()) != ARCHIVE_OK ||
      archive_write_open(w.get(), &ctx, nullptr, store::WriteToByteSink, nullptr) != ARCHIVE_OK) {
    return ArchiveStatus(w.get(), "tar writer");
  }
  UniqueEntry out(archive_entry_new());
  if (out == nullptr) return absl::ResourceExhaustedError("archive_entry_new failed");
  // A sink failure wins: the daemon ended the call, and the caller asks it why.
  auto failed = [&ctx](absl::Status status) { return ctx.status.ok() ? status : ctx.status; };
  for (const Entry& e : *entries) {
    archive_entry_clear(out.get());
    archive_entry_set_pathname(out.get(), e.name.c_str());
    archive_entry_set_filetype(out.get(), e.type);
    archive_entry_set_perm(out.get(), e.type == AE_IFLNK ? 0777 : e.perm);
    if (e.type == AE_IFREG) archive_entry_set_size(out.get(), e.size);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(out.get(), e.link_target.c_str());
    if (archive_write_header(w.get(), out.get()) != ARCHIVE_OK) {
      return failed(ArchiveStatus(w.get(), absl::StrCat("write ", e.name)));
    }
    if (e.type == AE_IFREG) {
      absl::Status status = CopyFile(w.get(), root_fd.get(), *root, e);
      if (!status.ok()) return failed(status);
    }
  }
  if (archive_write_close(w.get()) != ARCHIVE_OK) {
    return failed(ArchiveStatus(w.get(), "write the end of the tar"));
  }
  return ctx.status;
}

}  // namespace kapsel::client
