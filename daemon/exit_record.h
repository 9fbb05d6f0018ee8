#pragma once

// The record kapsel-shim leaves in its state directory when the container's init has exited. It
// is written atomically (write, fsync, rename, fsync of the directory), so kapseld finds either
// the whole record or none, also after a crash of either process.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kapsel::shim {

struct ExitRecord {
  int exit_code = 0;  // 128 + signal when killed by one
  int signal = 0;
  bool oom_killed = false;
  std::string error;        // set when the process could not be started
  int64_t finished_at = 0;  // unix nanoseconds
};

absl::Status WriteExitRecord(const std::string& dir, const ExitRecord& record);
absl::StatusOr<ExitRecord> ReadExitRecord(const std::string& dir);

// The shim's report on its status fd once the container has started or failed to.
struct StartReport {
  bool ok = false;
  int pid = 0;  // host pid of the container's init
  std::string error;
  int exec_errno = 0;  // nonzero when execve itself failed
};

std::string EncodeStartReport(const StartReport& report);
absl::StatusOr<StartReport> DecodeStartReport(const std::string& text);

constexpr char kExitRecordFile[] = "exit.json";

}  // namespace kapsel::shim
