#pragma once

// Helpers shared by the engine's source files (engine.cc, engine_lifecycle.cc, ...). Not an API.

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "kapsel/v1/containers.pb.h"
#include "store/containers_repo.h"

namespace kapsel::daemon::internal {

// Running or paused: a shim and a container init exist.
inline bool IsActive(const std::string& state) { return state == "running" || state == "paused"; }

// The request the container was created from (stored as JSON in its row).
inline v1::ContainerSpec SpecOf(const store::ContainerRecord& rec) {
  v1::ContainerSpec spec;
  (void)google::protobuf::util::JsonStringToMessage(rec.spec_json, &spec);
  return spec;
}

// The container's cgroup, relative to each hierarchy's root.
inline std::string CgroupOf(const std::string& id) { return absl::StrCat("kapsel/", id); }

// Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat; 0 when unreadable. Field 22, the start
// time in clock ticks since boot, together with the pid names a process across pid reuse.
inline uint64_t StatField(pid_t pid, size_t n) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close_paren = text.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 > text.size() || n < 3) return 0;
  std::vector<std::string> fields = absl::StrSplit(text.substr(close_paren + 2), ' ');
  uint64_t v = 0;
  if (fields.size() > n - 3) (void)absl::SimpleAtoi(fields[n - 3], &v);
  return v;
}

}  // namespace kapsel::daemon::internal
