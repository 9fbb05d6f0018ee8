#include "store/busybox_rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;

struct ArchiveWriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using UniqueEntry = std::unique_ptr<struct archive_entry, EntryDeleter>;

absl::Status WriteError(struct archive* a, const std::string& tar_path) {
  const char* msg = archive_error_string(a);
  return absl::InternalError(
      absl::StrCat("write ", tar_path, ": ", msg != nullptr ? msg : "unknown libarchive error"));
}

class TarWriter {
 public:
  TarWriter(struct archive* a, std::string path, time_t mtime)
      : a_(a), path_(std::move(path)), mtime_(mtime) {}

  absl::Status Dir(const std::string& name, mode_t perm) {
    UniqueEntry e = NewEntry(name, AE_IFDIR, perm);
    return Header(e.get());
  }

  absl::Status File(const std::string& name, mode_t perm, const std::string& content) {
    UniqueEntry e = NewEntry(name, AE_IFREG, perm);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    absl::Status status = Header(e.get());
    if (!status.ok()) return status;
    return Data(content.data(), content.size());
  }

  absl::Status Symlink(const std::string& name, const std::string& target) {
    UniqueEntry e = NewEntry(name, AE_IFLNK, 0777);
    archive_entry_set_symlink(e.get(), target.c_str());
    return Header(e.get());
  }

  // Copies the open file `fd` of `size` bytes.
  absl::Status FileFromFd(const std::string& name, mode_t perm, int fd, int64_t size,
                          const std::string& source) {
    UniqueEntry e = NewEntry(name, AE_IFREG, perm);
    archive_entry_set_size(e.get(), size);
    absl::Status status = Header(e.get());
    if (!status.ok()) return status;
    char buf[1 << 16];
    int64_t left = size;
    while (left > 0) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", source));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("read ", source, ": file shrank while copying"));
      }
      size_t chunk = static_cast<size_t>(std::min<int64_t>(n, left));
      status = Data(buf, chunk);
      if (!status.ok()) return status;
      left -= static_cast<int64_t>(chunk);
    }
    return absl::OkStatus();
  }

 private:
  UniqueEntry NewEntry(const std::string& name, mode_t type, mode_t perm) {
    UniqueEntry e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), mtime_, 0);
    return e;
  }

  absl::Status Header(struct archive_entry* e) {
    if (archive_write_header(a_, e) != ARCHIVE_OK) return WriteError(a_, path_);
    return absl::OkStatus();
  }

  absl::Status Data(const void* data, size_t n) {
    if (archive_write_data(a_, data, n) != static_cast<la_ssize_t>(n)) {
      return WriteError(a_, path_);
    }
    return absl::OkStatus();
  }

  struct archive* a_;
  std::string path_;
  time_t mtime_;
};

bool IsValidApplet(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name != "busybox" &&
         name.find('/') == std::string::npos;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListBusyboxApplets(const std::string& busybox_path) {
  if (access(busybox_path.c_str(), X_OK) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("access ", busybox_path));
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  absl::Cleanup destroy_actions = [&actions] { posix_spawn_file_actions_destroy(&actions); };
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // dup2 clears O_CLOEXEC on the child's stdout; every other descriptor of ours is close-on-exec.
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);

  std::string arg0 = busybox_path;
  std::string arg1 = "--list";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  char* envp[] = {nullptr};
  pid_t pid = 0;
  int err = posix_spawn(&pid, busybox_path.c_str(), &actions, nullptr, argv, envp);
  if (err != 0) return absl::ErrnoToStatus(err, absl::StrCat("posix_spawn ", busybox_path));
  write_end.Close();

  std::string output;
  absl::Status read_status;
  char buf[4096];
  while (true) {
    ssize_t n = read(read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_status = absl::ErrnoToStatus(errno, absl::StrCat("read output of ", busybox_path));
      break;
    }
    if (n == 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  read_end.Close();
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, absl::StrCat("waitpid ", pid));
  }
  if (!read_status.ok()) return read_status;
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return absl::InternalError(
        absl::StrCat(busybox_path, " --list failed with wait status ", wstatus));
  }
  std::vector<std::string> applets;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
    std::string name(absl::StripAsciiWhitespace(line));
    if (IsValidApplet(name)) applets.push_back(std::move(name));
  }
  if (applets.empty()) {
    return absl::InternalError(absl::StrCat(busybox_path, " --list printed no applets"));
  }
  return applets;
}

absl::Status WriteBusyboxRootfs(const std::string& busybox_path,
                                const std::vector<std::string>& applets,
                                const std::string& tar_path) {
  int raw = open(busybox_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", busybox_path));
  UniqueFd binary(raw);
  struct stat st;
  if (fstat(binary.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", busybox_path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(busybox_path, " is not a regular file"));
  }

  std::unique_ptr<struct archive, ArchiveWriteDeleter> a(archive_write_new());
  if (a == nullptr) return absl::ResourceExhaustedError("archive_write_new");
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_filename(a.get(), tar_path.c_str()) != ARCHIVE_OK) {
    return WriteError(a.get(), tar_path);
  }
  TarWriter tar(a.get(), tar_path, st.st_mtim.tv_sec);
  struct DirSpec {
    const char* name;
    mode_t perm;
  };
  static constexpr DirSpec kDirs[] = {
      {"bin", 0755},  {"dev", 0755},     {"etc", 0755},  {"home", 0755}, {"proc", 0555},
      {"root", 0700}, {"run", 0755},     {"sbin", 0755}, {"sys", 0555},  {"tmp", 01777},
      {"usr", 0755},  {"usr/bin", 0755}, {"var", 0755},
  };
  for (const DirSpec& d : kDirs) {
    absl::Status status = tar.Dir(d.name, d.perm);
    if (!status.ok()) return status;
  }
  absl::Status status = tar.FileFromFd("bin/busybox", 0755, binary.get(), st.st_size, busybox_path);
  if (!status.ok()) return status;
  for (const std::string& applet : applets) {
    if (!IsValidApplet(applet)) continue;
    status = tar.Symlink(absl::StrCat("bin/", applet), "busybox");
    if (!status.ok()) return status;
  }
  struct FileSpec {
    const char* name;
    const char* content;
  };
  static constexpr FileSpec kFiles[] = {
      {"etc/passwd",
       "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
      {"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
      {"etc/hostname", ""},
      {"etc/hosts", ""},
      {"etc/resolv.conf", ""},
  };
  for (const FileSpec& f : kFiles) {
    status = tar.File(f.name, 0644, f.content);
    if (!status.ok()) return status;
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return WriteError(a.get(), tar_path);
  return absl::OkStatus();
}

}  // namespace kapsel::store
