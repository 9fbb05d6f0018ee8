#pragma once

// Container rlimits: Docker's ulimit names (`--ulimit nofile=1024:4096`, kapseld's
// `--default-ulimit`) checked and turned into config.json's process.rlimits. Pure functions.

#include <sys/resource.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "kapsel/v1/config.pb.h"

namespace kapsel::daemon {

// One process rlimit, as config.json's process.rlimits has it.
struct ProcessRlimit {
  std::string type;   // "RLIMIT_NOFILE"
  uint64_t soft = 0;  // RLIM_INFINITY for unlimited
  uint64_t hard = 0;
};

// Docker's ulimit names ("nofile") and the OCI types they map to ("RLIMIT_NOFILE").
const std::map<std::string, std::string>& UlimitTypes();

// Checks one ulimit: a known name, soft and hard not negative except -1 (unlimited), soft not
// above hard. Errors are InvalidArgument and start with `field`.
absl::StatusOr<ProcessRlimit> ParseUlimit(const v1::Ulimit& u, absl::string_view field);

// Docker's text form NAME=SOFT[:HARD]; SOFT alone sets both. Only the syntax is checked here.
absl::StatusOr<v1::Ulimit> ParseUlimitText(absl::string_view text);

// The hard limits the container may have without CAP_SYS_RESOURCE: the daemon's own (a child
// cannot raise its hard limit above its parent's). Looks up the type's current hard limit.
using HardLimitOf = uint64_t (*)(const std::string& type);
uint64_t DaemonHardLimit(const std::string& type);

// The container's rlimits: the daemon's defaults, each replaced by the request's ulimit of the
// same name. A name given twice, or a hard limit above `hard_limit_of` when the daemon cannot
// raise limits (`can_raise`: it holds CAP_SYS_RESOURCE), is InvalidArgument naming the ulimit.
absl::StatusOr<std::vector<ProcessRlimit>> ContainerRlimits(
    const std::vector<ProcessRlimit>& defaults,
    const google::protobuf::RepeatedPtrField<v1::Ulimit>& request, bool can_raise,
    HardLimitOf hard_limit_of = DaemonHardLimit);

// Whether this process holds CAP_SYS_RESOURCE in its effective set.
bool CanRaiseRlimits();

}  // namespace kapsel::daemon
