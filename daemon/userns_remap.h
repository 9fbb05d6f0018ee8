#pragma once

// User-namespace remapping (kapseld's userns_remap, kapselctl run --userns): the container's
// root and every other id it uses map to an unprivileged subordinate range of the host, taken
// from /etc/subuid and /etc/subgid (subuid(5)) as Docker's userns-remap does.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/spec.h"

namespace kapsel::daemon {

// The fewest ids a remapped container gets: root, the usual system ids and nobody (65534).
inline constexpr uint32_t kMinRemapIds = 65536;

struct UsernsRemap {
  std::string user;  // the names looked up in subuid(5) and subgid(5)
  std::string group;
  std::vector<runtime::IdMapping> uid_mappings;  // container ids 0.. over the ranges, in order
  std::vector<runtime::IdMapping> gid_mappings;
  uint32_t root_uid() const { return uid_mappings.front().host_id; }
  uint32_t root_gid() const { return gid_mappings.front().host_id; }
};

// The ranges of `name` (or of `id`, its number, when not empty) in the text of a subuid(5) or
// subgid(5) file, as mappings of consecutive container ids from 0. `source` names the file in
// errors: InvalidArgument for a malformed line, a range that wraps or one that includes id 0.
absl::StatusOr<std::vector<runtime::IdMapping>> SubordinateMappings(absl::string_view text,
                                                                    absl::string_view name,
                                                                    absl::string_view id,
                                                                    absl::string_view source);

// Resolves "USER[:GROUP]" (GROUP defaults to USER; "default" means the user "kapsel") with the
// files at `subuid_path` and `subgid_path`. FailedPrecondition when a name has no range there or
// fewer than kMinRemapIds ids, naming the file and the line to add; InvalidArgument for a
// malformed value.
absl::StatusOr<UsernsRemap> ResolveUsernsRemap(const std::string& value,
                                               const std::string& subuid_path = "/etc/subuid",
                                               const std::string& subgid_path = "/etc/subgid");

}  // namespace kapsel::daemon
