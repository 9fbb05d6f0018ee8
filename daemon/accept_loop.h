#pragma once

// The accept loop shared by kapseld's listening sockets (the API socket, the metrics endpoint).

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {

// Accepts connections on `listen_fd` (non-blocking, close-on-exec) and hands each to
// `on_connection`, until `stop_fd` (an eventfd) becomes readable. When the process is out of fds
// or memory, the connection waits in the backlog and accept is retried after 100 ms rather than
// spun on. `what` names the socket in log lines ("api socket").
// Binds a Unix socket at `path`, root:`gid` mode 0660, and listens with `backlog`. A stale socket
// at `path` is replaced; any other kind of file there is an error (AlreadyExists). The owner and
// mode are set before listen(2), so no connection gets in before them.
absl::StatusOr<linux::UniqueFd> BindUnixSocket(const std::string& path, gid_t gid, int backlog);

void AcceptLoop(int listen_fd, int stop_fd, const char* what,
                const std::function<void(linux::UniqueFd)>& on_connection);

}  // namespace kapsel::daemon
