#pragma once

// A container's log rotation: the request's LogOptions checked, and merged with the daemon's
// defaults into what the shim is told (log_writer.h).

#include <cstdint>

#include "absl/status/status.h"
#include "daemon/log_writer.h"
#include "kapsel/v1/containers.pb.h"

namespace kapsel::daemon {

// Smaller files than this would rotate at almost every record.
inline constexpr int64_t kMinLogMaxSizeBytes = 4096;

// InvalidArgument naming the option (max-size, max-file) when a value that is set is out of
// range: max-size below kMinLogMaxSizeBytes, max-file below 1. Unset (0) values are fine.
absl::Status ValidateLogOptions(const v1::LogOptions& options);

// The request's values where set, else the defaults.
logs::RotationOptions EffectiveLogRotation(const v1::LogOptions& options,
                                           const logs::RotationOptions& defaults);

}  // namespace kapsel::daemon
