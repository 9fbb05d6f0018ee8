#pragma once

// What `kapsel-shim mount-add` and `kapsel-shim mount-rm` report to kapseld on their status
// pipe: one line, "<absl status code> <lazy 0|1> <message>".

#include <string>

#include "absl/status/status.h"

namespace kapsel::shim {

struct MountReport {
  absl::Status status;
  bool lazy = false;  // mount-rm: the mount was busy and was detached lazily (MNT_DETACH)
};

std::string EncodeMountReport(const MountReport& report);
// An empty or malformed text is an Internal error naming what was read.
MountReport DecodeMountReport(const std::string& text);

}  // namespace kapsel::shim
