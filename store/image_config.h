#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace kapsel::store {

struct ImageReference {
  std::string name;  // lowercase [a-z0-9._/-]
  std::string tag;   // [A-Za-z0-9_.-]{1,128}, "latest" when not given

  std::string ToString() const { return name + ":" + tag; }
};

// Parses "name[:tag]". InvalidArgument naming the reference when the name or tag is malformed.
absl::StatusOr<ImageReference> ParseImageReference(const std::string& reference);

// Applies Dockerfile-style `changes` to `config` (the "config" object of an OCI image config):
// `CMD ["a","b"]` or `CMD a b` (shell form -> ["/bin/sh","-c","a b"]), `ENTRYPOINT ...`,
// `ENV K=V` (or `ENV K V`), `WORKDIR /x`, `USER u`, `LABEL k=v`. Instructions are
// case-insensitive. InvalidArgument naming an unknown instruction or a malformed line.
absl::Status ApplyChanges(const std::vector<std::string>& changes, nlohmann::json& config);

// The OCI image config JSON: architecture and os of this host, `created` as RFC 3339 from
// `created_nanos` (unix nanoseconds), `config`, and rootfs.diff_ids.
nlohmann::json MakeImageConfig(const nlohmann::json& config,
                               const std::vector<std::string>& diff_ids, int64_t created_nanos);

}  // namespace kapsel::store
