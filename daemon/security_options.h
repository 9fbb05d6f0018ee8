#pragma once

// The security part of a container's OCI spec from its request: capabilities (Docker's defaults
// tweaked by --cap-add/--cap-drop/--privileged) and the seccomp profile (kapsel's default, a
// Docker-format profile, or none). Capability names are checked with libcap here, in the daemon.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kapsel/v1/containers.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::daemon {

// "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" -> "CAP_NET_ADMIN"; "all" -> "ALL". A name libcap
// does not know is InvalidArgument naming `flag` and the value.
absl::StatusOr<std::string> NormalizeCapability(const std::string& name, const std::string& flag);

// Every capability of the running kernel that libcap can name and that is in kapseld's own
// bounding set, as "CAP_...".
std::vector<std::string> AllCapabilities();

// The container's capability set, as Docker computes it: with --privileged all of them; with
// --cap-add ALL all but the dropped ones; with --cap-drop ALL only the added ones; else the
// defaults minus the dropped plus the added.
absl::StatusOr<std::vector<std::string>> ContainerCapabilities(
    const v1::SecurityOptions& security, const std::vector<std::string>& defaults);

// The linux.seccomp object for the container, or null when it runs without a filter
// (--privileged, seccomp=unconfined). `bounding` decides the capability-conditional rules. The
// profile is compiled once here, so that a bad one is refused at create, not at start.
absl::StatusOr<nlohmann::json> SeccompSection(const v1::SecurityOptions& security,
                                              const std::vector<std::string>& bounding);

}  // namespace kapsel::daemon
