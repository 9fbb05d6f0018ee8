#include "daemon/log_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace kapsel::logs {
namespace {

using linux::UniqueFd;

absl::StatusOr<UniqueFd> OpenForAppend(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  return fd;
}

}  // namespace

std::string RotatedLogPath(const std::string& path, int n) { return absl::StrCat(path, ".", n); }

absl::StatusOr<UniqueFd> LockLogDir(const std::string& path, bool exclusive) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", dir));
  while (flock(fd.get(), exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno != EINTR) return absl::ErrnoToStatus(errno, absl::StrCat("flock ", dir));
  }
  return fd;
}

absl::StatusOr<LogWriter> LogWriter::Open(std::string path, RotationOptions options) {
  if (options.max_files < 1) options.max_files = 1;
  auto fd = OpenForAppend(path);
  if (!fd.ok()) return fd.status();
  struct stat st;
  if (fstat(fd->get(), &st) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", path));
  if (options.max_size_bytes > 0) {
    auto lock = LockLogDir(path, /*exclusive=*/true);
    if (!lock.ok()) return lock.status();
    for (int n = options.max_files;; ++n) {
      std::string stale = RotatedLogPath(path, n);
      if (unlink(stale.c_str()) != 0) {
        if (errno == ENOENT) break;
        return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", stale));
      }
    }
  }
  return LogWriter(std::move(path), options, *std::move(fd), st.st_size);
}

absl::Status LogWriter::WriteAll(absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd_.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", path_));
    }
    size_ += n;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status LogWriter::Rotate() {
  auto lock = LockLogDir(path_, /*exclusive=*/true);
  if (!lock.ok()) return lock.status();
  if (options_.max_files == 1) {
    if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", path_));
    }
  } else {
    // rename(2) replaces the target, so the oldest kept file is dropped by the first rename.
    for (int n = options_.max_files - 1; n >= 2; --n) {
      std::string from = RotatedLogPath(path_, n - 1), to = RotatedLogPath(path_, n);
      if (rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
        return absl::ErrnoToStatus(errno, absl::StrCat("rename ", from, " to ", to));
      }
    }
    std::string to = RotatedLogPath(path_, 1);
    if (rename(path_.c_str(), to.c_str()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("rename ", path_, " to ", to));
    }
  }
  // Until the new file is open, output goes on into the old one; a reader that has seen the
  // rename reads that one to its end before it moves on (log_reader.cc).
  auto fd = OpenForAppend(path_);
  if (!fd.ok()) return fd.status();
  fd_ = *std::move(fd);
  size_ = 0;
  return absl::OkStatus();
}

absl::Status LogWriter::Append(absl::string_view records) {
  absl::Status first_error;
  bool may_rotate = options_.max_size_bytes > 0;
  // [start, pos) is a run of whole records that still fits into the current file.
  size_t start = 0, pos = 0;
  while (pos < records.size()) {
    size_t nl = records.find('\n', pos);
    size_t end = nl == absl::string_view::npos ? records.size() : nl + 1;
    const int64_t would_be = size_ + static_cast<int64_t>(end - start);
    if (may_rotate && would_be > options_.max_size_bytes &&
        size_ + static_cast<int64_t>(pos - start) > 0) {
      if (auto s = WriteAll(records.substr(start, pos - start)); !s.ok()) first_error.Update(s);
      start = pos;
      if (auto s = Rotate(); !s.ok()) {
        // Keep the output in the file we have; the next Append tries again.
        first_error.Update(s);
        may_rotate = false;
      }
    }
    pos = end;
  }
  if (auto s = WriteAll(records.substr(start, pos - start)); !s.ok()) first_error.Update(s);
  return first_error;
}

}  // namespace kapsel::logs
