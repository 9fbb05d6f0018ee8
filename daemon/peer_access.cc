#include "daemon/peer_access.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kapsel::daemon {

bool MayUseApi(const PeerCredentials& peer, const AccessPolicy& policy) {
  if (peer.uid == 0) return true;
  if (!policy.has_group) return false;
  if (peer.gid == policy.group) return true;
  return std::find(peer.groups.begin(), peer.groups.end(), policy.group) != peer.groups.end();
}

std::string DenialMessage(const PeerCredentials& peer, const AccessPolicy& policy) {
  if (!policy.has_group) {
    return absl::StrCat("permission denied: uid ", peer.uid,
                        " may not use kapseld; only root may (the socket group \"",
                        policy.group_name, "\" does not exist)");
  }
  return absl::StrCat("permission denied: uid ", peer.uid,
                      " may not use kapseld; root and members of group \"", policy.group_name,
                      "\" (gid ", policy.group, ") may");
}

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  PeerCredentials out;
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::ErrnoToStatus(errno, "getsockopt SO_PEERCRED");
  }
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
  // ERANGE tells the size needed (socket(7)); groups can change between calls only for a new
  // connection, so two rounds suffice, a third guards against surprises.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 3; ++attempt) {
    socklen_t size = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &size) == 0) {
      groups.resize(size / sizeof(gid_t));
      out.groups = std::move(groups);
      return out;
    }
    if (errno != ERANGE) return absl::ErrnoToStatus(errno, "getsockopt SO_PEERGROUPS");
    groups.resize(size / sizeof(gid_t) + 1);
  }
  return absl::ResourceExhaustedError("getsockopt SO_PEERGROUPS: group list keeps growing");
}

}  // namespace kapsel::daemon
