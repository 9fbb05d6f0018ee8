#pragma once

// Reads a container log (log_format.h) incrementally, as it grows and rotates (log_writer.h):
// first the rotated files, oldest first, then the current one, and when the current one is
// rotated away, the rest of it and then the files that followed it. Not thread-safe.

#include <sys/types.h>

#include <deque>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/log_format.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::logs {

class LogReader {
 public:
  // A missing file is not an error: it reads as empty until it appears.
  explicit LogReader(std::string path) : path_(std::move(path)) {}
  // Calls fn for every complete record written since the last call, in the order written. When
  // rotation outran the reader and dropped files it had not read, their records are skipped.
  absl::Status ReadAvailable(const std::function<void(const Record&)>& fn);
  // The current file; the rotated ones are beside it (RotatedLogPath).
  const std::string& path() const { return path_; }

 private:
  struct File {
    linux::UniqueFd fd;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  // The log's files as they are at one moment, oldest first; empty when there are none.
  absl::StatusOr<std::deque<File>> OpenFiles() const;
  absl::Status ReadToEnd(const std::function<void(const Record&)>& fn);
  // Whether `path_` still names the file being read.
  bool StillCurrent() const;

  std::string path_;
  bool started_ = false;
  File file_;               // the file being read
  std::deque<File> queue_;  // the files that follow it, oldest first
  std::string pending_;     // the start of a record not yet written to its end
};

}  // namespace kapsel::logs
