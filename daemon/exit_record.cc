#include "daemon/exit_record.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "daemon/atomic_file.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/unique_fd.h"

namespace kapsel::shim {

using nlohmann::json;

absl::Status WriteExitRecord(const std::string& dir, const ExitRecord& record) {
  json j = {{"exit_code", record.exit_code},
            {"signal", record.signal},
            {"oom_killed", record.oom_killed},
            {"error", record.error},
            {"finished_at", record.finished_at}};
  // Not fsync'd: the record lives under the exec root, a tmpfs that a power loss empties anyway,
  // and rename(2) already makes it whole for a daemon that reads it after a crash of its own.
  // The fsyncs cost ~7 ms on the exit path on a disk (every `run --rm` and exit event waits on it).
  return files::WriteFileAtomic(absl::StrCat(dir, "/", kExitRecordFile), j.dump(), 0600,
                                /*durable=*/false);
}

absl::StatusOr<ExitRecord> ReadExitRecord(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kExitRecordFile);
  std::ifstream in(path);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::DataLossError(absl::StrCat(path, ": not valid JSON"));
  ExitRecord r;
  r.exit_code = j.value("exit_code", 0);
  r.signal = j.value("signal", 0);
  r.oom_killed = j.value("oom_killed", false);
  r.error = j.value("error", "");
  r.finished_at = j.value("finished_at", int64_t{0});
  return r;
}

std::string EncodeStartReport(const StartReport& report) {
  json j = {{"ok", report.ok},
            {"pid", report.pid},
            {"error", report.error},
            {"exec_errno", report.exec_errno}};
  return j.dump();
}

absl::StatusOr<StartReport> DecodeStartReport(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::DataLossError("shim start report: not valid JSON");
  StartReport r;
  r.ok = j.value("ok", false);
  r.pid = j.value("pid", 0);
  r.error = j.value("error", "");
  r.exec_errno = j.value("exec_errno", 0);
  return r;
}

}  // namespace kapsel::shim
