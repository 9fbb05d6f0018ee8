#include "daemon/log_options.h"

#include "absl/strings/str_cat.h"

namespace kapsel::daemon {

absl::Status ValidateLogOptions(const v1::LogOptions& options) {
  if (options.max_size_bytes() != 0 && options.max_size_bytes() < kMinLogMaxSizeBytes) {
    return absl::InvalidArgumentError(absl::StrCat("log-opt max-size ", options.max_size_bytes(),
                                                   ": must be at least ", kMinLogMaxSizeBytes,
                                                   " bytes (4k)"));
  }
  if (options.max_files() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("log-opt max-file ", options.max_files(), ": must be at least 1"));
  }
  return absl::OkStatus();
}

logs::RotationOptions EffectiveLogRotation(const v1::LogOptions& options,
                                           const logs::RotationOptions& defaults) {
  logs::RotationOptions effective = defaults;
  if (options.max_size_bytes() > 0) effective.max_size_bytes = options.max_size_bytes();
  if (options.max_files() > 0) effective.max_files = options.max_files();
  return effective;
}

}  // namespace kapsel::daemon
