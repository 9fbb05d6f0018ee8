#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kapsel::files {

// Writes `text` to `path` through a temporary file and rename(2), so readers see the old file or
// the whole new one. With `durable`, the file and its directory are fsync'd as well, so the new
// content also survives a power loss.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view text, mode_t mode,
                             bool durable);

}  // namespace kapsel::files
