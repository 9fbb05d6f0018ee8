#include "daemon/accept_loop.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "spdlog/spdlog.h"

namespace kapsel::daemon {

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
