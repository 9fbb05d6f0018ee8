// attach: kapseld's connection to the attach socket of a container's shim
// (daemon/shim/attach_protocol.h). A running container is reached through the socket the shim
// listens on; a container started for the attach (`run -it`, `start -ai`) gets one end of a
// socketpair at its start, so the client sees its output from the first byte.

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "daemon/engine.h"
#include "daemon/engine_internal.h"
#include "daemon/shim/attach_protocol.h"

namespace kapsel::daemon {

using internal::IsActive;
using internal::SpecOf;
using store::ContainerRecord;

namespace {

// Connects to <shim_dir>/attach.sock, through /proc/self/fd so that a long exec root still fits
// sun_path.
absl::StatusOr<linux::UniqueFd> ConnectToShim(const std::string& shim_dir,
                                              const std::string& name) {
  linux::UniqueFd dir(open(shim_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return linux::ErrnoStatus(errno, absl::StrCat("open ", shim_dir));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir.get(),
           shim::kAttachSocketName);
  linux::UniqueFd conn(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!conn) return linux::ErrnoStatus(errno, "socket");
  if (connect(conn.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) {
      // The shim has gone, or is closing down: the container is exiting.
      return absl::FailedPreconditionError(absl::StrCat("container ", name, " is not running"));
    }
    return linux::ErrnoStatus(errno,
                              absl::StrCat("connect ", shim_dir, "/", shim::kAttachSocketName));
  }
  return conn;
}

// Sets the window size of the container's terminal (a no-op for a 0x0 size).
absl::Status SendWindowSize(int conn, const v1::WindowSize* size) {
  if (size == nullptr || size->rows() == 0 || size->cols() == 0) return absl::OkStatus();
  if (!shim::SendAttachResize(conn, static_cast<uint16_t>(size->rows()),
                              static_cast<uint16_t>(size->cols()))) {
    return linux::ErrnoStatus(errno, "attach: send the window size");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Engine::AttachSession> Engine::OpenAttach(const std::string& ref, bool start,
                                                         const v1::WindowSize* initial_size) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  const v1::ContainerSpec spec = SpecOf(*rec);
  AttachSession session;
  session.id = rec->id;
  session.name = rec->name;
  session.tty = spec.tty();
  session.open_stdin = spec.open_stdin();
  if (IsActive(rec->state)) {
    auto conn = ConnectToShim(ShimDir(rec->id), rec->name);
    if (!conn.ok()) return conn.status();
    session.conn = *std::move(conn);
    if (session.tty) {
      if (auto s = SendWindowSize(session.conn.get(), initial_size); !s.ok()) return s;
    }
    return session;
  }
  if (!start) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", rec->name, " is not running (start it, or use start --attach)"));
  }
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return linux::ErrnoStatus(errno, "socketpair");
  }
  linux::UniqueFd ours(pair[0]), theirs(pair[1]);
  // Queued before the shim exists; it applies the size before the container's first output.
  if (session.tty) {
    if (auto s = SendWindowSize(ours.get(), initial_size); !s.ok()) return s;
  }
  BeginManualRun(&*rec);
  if (auto s = StartLocked(*std::move(rec), theirs.get()); !s.ok()) return s;
  session.conn = std::move(ours);
  return session;
}

}  // namespace kapsel::daemon
