#pragma once

// Reads a container log (log_format.h) incrementally, as it grows. Not thread-safe.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "daemon/log_format.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::logs {

class LogReader {
 public:
  // A missing file is not an error: it reads as empty until it appears.
  explicit LogReader(std::string path) : path_(std::move(path)) {}
  // Calls fn for every complete record appended since the last call.
  absl::Status ReadAvailable(const std::function<void(const Record&)>& fn);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  linux::UniqueFd fd_;
  std::string pending_;
};

}  // namespace kapsel::logs
