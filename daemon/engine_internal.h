#pragma once

// Helpers shared by the engine's source files (engine.cc, engine_lifecycle.cc, ...). Not an API.

#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace kapsel::daemon::internal
