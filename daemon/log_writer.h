#pragma once

// Writes a container log (log_format.h) and rotates it by size, as kapsel-shim does.
//
// The files of one log at `path`: `path` is the current file, the only one written; `path.1` is
// the one before it, `path.2` the one before that, and so on up to `path.<max_files - 1>`. A
// rotation renames `path.N` to `path.N+1` (dropping the oldest), `path` to `path.1`, and creates
// a new, empty `path`. Records are never split across files.
//
// Readers (log_reader.h) and the writer agree on one lock: the writer holds an exclusive
// flock(2) on the directory holding the log while it rotates, and a reader holds a shared one
// while it opens the set of files, so it never sees a rotation half done.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::logs {

struct RotationOptions {
  int64_t max_size_bytes = 0;  // bytes per file; 0: never rotate
  int max_files = 1;           // files kept, the current one included; at least 1
};

// `path.n`, the n-th newest rotated file of the log at `path` (n >= 1).
std::string RotatedLogPath(const std::string& path, int n);

// Takes flock(2) on the directory of `path`, shared or exclusive; the lock goes with the fd.
absl::StatusOr<linux::UniqueFd> LockLogDir(const std::string& path, bool exclusive);

// Appends records to the log at `path`, rotating it first when they would make it exceed
// max_size_bytes. A file holds more than that only when a single record is larger: then it holds
// that one record. Single-threaded: one LogWriter (one shim) per log. Owns its fd.
class LogWriter {
 public:
  // Opens (creates) the current file and removes rotated files beyond max_files, left by a run
  // with a larger max_files.
  static absl::StatusOr<LogWriter> Open(std::string path, RotationOptions options);

  LogWriter(LogWriter&&) = default;
  LogWriter& operator=(LogWriter&&) = default;

  // Appends `records`: whole records, each ending in '\n' (FormatChunk's output). An error leaves
  // the writer usable: a failed rotation is tried again at the next Append, and a failed write
  // (a full disk) loses that output only.
  absl::Status Append(absl::string_view records);

  int fd() const { return fd_.get(); }
  int64_t size() const { return size_; }

 private:
  LogWriter(std::string path, RotationOptions options, linux::UniqueFd fd, int64_t size)
      : path_(std::move(path)), options_(options), fd_(std::move(fd)), size_(size) {}

  absl::Status WriteAll(absl::string_view data);
  absl::Status Rotate();

  std::string path_;
  RotationOptions options_;
  linux::UniqueFd fd_;
  int64_t size_ = 0;  // bytes in the current file
};

}  // namespace kapsel::logs
