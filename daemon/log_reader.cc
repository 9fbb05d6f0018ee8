#include "daemon/log_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "daemon/log_writer.h"

namespace kapsel::logs {
namespace {

// More rotated files than anyone keeps; bounds the probing.
constexpr int kMaxRotatedFiles = 10000;

}  // namespace

absl::StatusOr<std::deque<LogReader::File>> LogReader::OpenFiles() const {
  std::deque<File> files;
  // Under the shared lock no rotation is half done: the names form one gap-free sequence.
  auto lock = LockLogDir(path_, /*exclusive=*/false);
  if (!lock.ok()) {
    if (absl::IsNotFound(lock.status())) return files;  // the container's directory is gone
    // Without the lock a rotation may show half done; read what can be read.
  }
  for (int n = 0; n <= kMaxRotatedFiles; ++n) {
    const std::string name = n == 0 ? path_ : RotatedLogPath(path_, n);
    File file;
    file.fd.Reset(open(name.c_str(), O_RDONLY | O_CLOEXEC));
    if (!file.fd) {
      if (errno == ENOENT && n > 0) break;
      if (errno == ENOENT) continue;  // no current file (not started yet, or max_files == 1)
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", name));
    }
    struct stat st;
    if (fstat(file.fd.get(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", name));
    }
    file.dev = st.st_dev;
    file.ino = st.st_ino;
    files.push_front(std::move(file));
  }
  return files;
}

bool LogReader::StillCurrent() const {
  struct stat st;
  return stat(path_.c_str(), &st) == 0 && st.st_dev == file_.dev && st.st_ino == file_.ino;
}

absl::Status LogReader::ReadToEnd(const std::function<void(const Record&)>& fn) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(file_.fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", path_));
    }
    if (n == 0) return absl::OkStatus();
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
}

absl::Status LogReader::ReadAvailable(const std::function<void(const Record&)>& fn) {
  if (!started_) {
    auto files = OpenFiles();
    if (!files.ok()) return files.status();
    if (files->empty()) return absl::OkStatus();
    started_ = true;
    queue_ = *std::move(files);
    file_ = std::move(queue_.front());
    queue_.pop_front();
  }
  for (;;) {
    if (auto s = ReadToEnd(fn); !s.ok()) return s;
    if (queue_.empty()) {
      if (StillCurrent()) return absl::OkStatus();
      // Rotated (or removed): the writer renamed the file after its last write to it, so what
      // is in it now is all it will ever hold. Find the files that came after it.
      auto files = OpenFiles();
      if (!files.ok()) return files.status();
      auto it = std::find_if(files->begin(), files->end(), [&](const File& f) {
        return f.dev == file_.dev && f.ino == file_.ino;
      });
      // Not among them: dropped already, so every file there is newer.
      if (it != files->end()) files->erase(files->begin(), it + 1);
      if (auto s = ReadToEnd(fn); !s.ok()) return s;
      if (files->empty()) return absl::OkStatus();
      queue_ = *std::move(files);
    }
    // Records are never split across files: what is pending of the old one is no record.
    pending_.clear();
    file_ = std::move(queue_.front());
    queue_.pop_front();
  }
}

}  // namespace kapsel::logs
