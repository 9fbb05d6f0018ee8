#pragma once

// Host ports for published container ports. DNAT does not need a socket on the host, but without
// one nothing stops a host program from binding the port later (it would then never see
// traffic), and nothing refuses a port that a host program already listens on. So each published
// port is bound, not listened on, by the daemon for as long as it is published.

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/port_spec.h"

namespace kapsel::network {

// FailedPrecondition `host port 127.0.0.1:18080/tcp is already published` when `wanted` overlaps
// one of `published` (same protocol and port, and the same host IP or either one on every
// address). Ports 0 never conflict.
absl::Status CheckPublishedConflict(const std::vector<PortMapping>& published,
                                    const PortMapping& wanted);

// Binds a socket of the mapping's protocol to host_ip:host_port (0.0.0.0 for an empty host_ip).
// A host_port of 0 is replaced by the port the kernel chose. FailedPrecondition
// `host port 0.0.0.0:8080/tcp is already in use` when something on the host holds it;
// InvalidArgument when host_ip is not an address of this host. The fd is close-on-exec.
absl::StatusOr<linux::UniqueFd> ReserveHostPort(PortMapping* mapping);

}  // namespace kapsel::network
