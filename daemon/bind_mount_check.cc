#include "daemon/bind_mount_check.h"

#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kapsel::daemon {

absl::StatusOr<std::string> CheckBindMount(const v1::MountSpec& m, absl::string_view what,
                                           const BindMountRules& rules) {
  const std::string& host = m.host_path();
  if (host.empty() || host.front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the host path must be absolute"));
  }
  struct stat st;
  if (stat(host.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(what, ": host path ", host));
  }
  if (m.container_path().empty() || m.container_path().front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the container path must be absolute"));
  }
  std::vector<std::string> parts = absl::StrSplit(m.container_path(), '/', absl::SkipEmpty());
  for (const std::string& part : parts) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the container path must not contain . or .."));
    }
  }
  std::string dest = absl::StrCat("/", absl::StrJoin(parts, "/"));
  auto under = [&](absl::string_view dir) {
    return dest == dir || absl::StartsWith(dest, absl::StrCat(dir, "/"));
  };
  if (dest == "/" || under("/proc") || (rules.refuse_sys && under("/sys"))) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot mount over ", dest, " in the container"));
  }
  const std::string& propagation = m.propagation();
  if (!propagation.empty() && propagation != "private" && propagation != "rprivate" &&
      propagation != "slave" && propagation != "rslave") {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": unknown propagation \"", propagation, "\""));
  }
  return dest;
}

}  // namespace kapsel::daemon
