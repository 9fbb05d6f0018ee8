#include "daemon/accept_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {

absl::StatusOr<linux::UniqueFd> BindUnixSocket(const std::string& path, gid_t gid, int backlog) {
  sockaddr_un addr = {};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is too long"));
  }
  linux::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket AF_UNIX");
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
    }
    if (unlink(path.c_str()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", path));
  }
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", path));
  }
  // Owner and mode before listen(2): until then every connect(2) is refused.
  if (chown(path.c_str(), 0, gid) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chown ", path));
  }
  if (chmod(path.c_str(), 0660) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", path));
  }
  if (listen(fd.get(), backlog) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("listen ", path));
  }
  return fd;
}

void AcceptLoop(int listen_fd, int stop_fd, const char* what,
                const std::function<void(linux::UniqueFd)>& on_connection) {
  for (;;) {
    struct pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}: poll: {}", what, strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    // Non-blocking, as gRPC's endpoints expect.
    linux::UniqueFd conn(accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The listening socket stays readable: wait before trying again, or stop.
        spdlog::warn("{}: accept: {}", what, strerror(errno));
        struct pollfd stop = {stop_fd, POLLIN, 0};
        if (poll(&stop, 1, 100) > 0) return;
      } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("{}: accept: {}", what, strerror(errno));
      }
      continue;
    }
    on_connection(std::move(conn));
  }
}

}  // namespace kapsel::daemon
