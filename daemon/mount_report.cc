#include "daemon/mount_report.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kapsel::shim {

std::string EncodeMountReport(const MountReport& report) {
  std::string message(report.status.message());
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return absl::StrCat(static_cast<int>(report.status.code()), " ", report.lazy ? 1 : 0, " ",
                      message, "\n");
}

MountReport DecodeMountReport(const std::string& text) {
  MountReport report;
  std::vector<std::string> parts =
      absl::StrSplit(absl::StripSuffix(text, "\n"), absl::MaxSplits(' ', 2));
  int code = 0, lazy = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &code) ||
      !absl::SimpleAtoi(parts[1], &lazy) || code < 0 || code > 16) {
    report.status = absl::InternalError(absl::StrCat("malformed mount report \"", text, "\""));
    return report;
  }
  report.status = absl::Status(static_cast<absl::StatusCode>(code), parts[2]);
  report.lazy = lazy != 0;
  return report;
}

}  // namespace kapsel::shim
