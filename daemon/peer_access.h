#pragma once

// Who may use the API socket: root and members of the socket's group, judged from the kernel's
// record of the connecting process (SO_PEERCRED, SO_PEERGROUPS), not from the user database.

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kapsel::daemon {

// The credentials of the process that connected, as the kernel captured them at connect(2).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;              // effective uid
  gid_t gid = 0;              // effective gid
  std::vector<gid_t> groups;  // supplementary groups
};

struct AccessPolicy {
  // No group: root only (the configured default group "kapsel" does not exist).
  bool has_group = false;
  gid_t group = 0;
  std::string group_name;
};

// Root, or a process whose effective or supplementary groups include the policy's group.
bool MayUseApi(const PeerCredentials& peer, const AccessPolicy& policy);

// The PERMISSION_DENIED message a refused peer gets: names its uid and the group it lacks.
std::string DenialMessage(const PeerCredentials& peer, const AccessPolicy& policy);

// SO_PEERCRED and SO_PEERGROUPS (Linux 4.13) of a connected Unix socket. Both are the
// credentials at connect time, so a process that connects and then drops its groups, or exits and
// has its pid reused, is judged by what it was when it connected, like the kernel's own check of
// the socket file's mode.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

}  // namespace kapsel::daemon
