#include "daemon/shim/attach_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"

namespace kapsel::shim {
namespace {

// At most this many connections at once; more are refused (closed on accept).
constexpr size_t kMaxClients = 16;
// Input not yet taken by the container, per shim. Beyond it, connections are not read.
constexpr size_t kMaxPendingInput = 1 << 20;
// How long one output packet may wait for a connection's buffer before it is dropped.
constexpr int kSendTimeoutSeconds = 5;

// A path for `name` in the directory `dir_fd` that fits sun_path whatever the directory's own
// path length: /proc/self/fd/N/name.
bool SocketAddress(int dir_fd, struct sockaddr_un* addr) {
  *addr = {};
  addr->sun_family = AF_UNIX;
  int n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", dir_fd,
                   kAttachSocketName);
  return n > 0 && static_cast<size_t>(n) < sizeof(addr->sun_path);
}

}  // namespace

absl::StatusOr<AttachHub> AttachHub::Listen(const std::string& dir, linux::UniqueFd stdin_pipe,
                                            int tty_master, bool tty_input) {
  AttachHub hub;
  hub.socket_path_ = absl::StrCat(dir, "/", kAttachSocketName);
  hub.dir_fd_.Reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!hub.dir_fd_) return linux::ErrnoStatus(errno, absl::StrCat("open ", dir));
  struct sockaddr_un addr;
  if (!SocketAddress(hub.dir_fd_.get(), &addr)) {
    return absl::InternalError("attach socket: address too long");
  }
  unlinkat(hub.dir_fd_.get(), kAttachSocketName, 0);
  hub.listen_fd_.Reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!hub.listen_fd_) return linux::ErrnoStatus(errno, "attach socket");
  // Only root reaches it (the shim directory is 0700 too); the mode is set before bind makes it
  // visible, through the umask.
  mode_t old_umask = umask(0177);
  int rc = bind(hub.listen_fd_.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  umask(old_umask);
  if (rc != 0) return linux::ErrnoStatus(err, absl::StrCat("bind ", hub.socket_path_));
  if (listen(hub.listen_fd_.get(), 8) != 0) {
    return linux::ErrnoStatus(errno, absl::StrCat("listen ", hub.socket_path_));
  }
  hub.stdin_pipe_ = std::move(stdin_pipe);
  hub.tty_master_ = tty_master;
  hub.tty_ = tty_master >= 0;
  if (hub.stdin_pipe_) {
    hub.input_fd_ = hub.stdin_pipe_.get();
  } else if (hub.tty_ && tty_input) {
    hub.input_fd_ = tty_master;
  }
  // Input is written as the container takes it, never blocking the shim's loop.
  if (hub.input_fd_ >= 0) {
    int flags = fcntl(hub.input_fd_, F_GETFL);
    if (flags < 0 || fcntl(hub.input_fd_, F_SETFL, flags | O_NONBLOCK) != 0) {
      return linux::ErrnoStatus(errno, "container input: O_NONBLOCK");
    }
  }
  return hub;
}

AttachHub::~AttachHub() { Shutdown(); }

void AttachHub::AddClient(linux::UniqueFd fd) {
  if (clients_.size() >= kMaxClients) return;
  struct timeval timeout = {kSendTimeoutSeconds, 0};
  (void)setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  clients_.push_back(std::move(fd));
}

void AttachHub::Broadcast(AttachPacket type, const char* data, size_t size) {
  if (clients_.empty()) return;
  char packet[kAttachMaxPayload + 1];
  while (size > 0) {
    size_t n = size < kAttachMaxPayload ? size : kAttachMaxPayload;
    const size_t length = EncodeAttachPacket(type, data, n, packet);
    for (size_t i = 0; i < clients_.size();) {
      if (!SendEncodedAttachPacket(clients_[i].get(), packet, length)) {
        clients_.erase(clients_.begin() + static_cast<ptrdiff_t>(i));
        continue;
      }
      ++i;
    }
    data += n;
    size -= n;
  }
}

void AttachHub::Fill(std::vector<struct pollfd>* fds) {
  first_ = fds->size();
  fds->push_back({listen_fd_.get(), POLLIN, 0});
  const bool read_clients = pending_input_.size() < kMaxPendingInput;
  for (const auto& c : clients_) fds->push_back({read_clients ? c.get() : -1, POLLIN, 0});
  fds->push_back({pending_input_.empty() ? -1 : input_fd_, POLLOUT, 0});
}

void AttachHub::Handle(const std::vector<struct pollfd>& fds) {
  if (fds.size() < first_ + clients_.size() + 2) return;
  if (fds[first_ + clients_.size() + 1].revents != 0) FlushInput();
  // Back to front: Receive may drop the client it reads.
  for (size_t i = clients_.size(); i-- > 0;) {
    if (fds[first_ + 1 + i].revents != 0) Receive(i);
  }
  if (fds[first_].revents & POLLIN) {
    int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) AddClient(linux::UniqueFd(fd));
  }
}

void AttachHub::ReceivePending() {
  for (size_t i = clients_.size(); i-- > 0;) {
    while (i < clients_.size() && Receive(i)) {
    }
  }
}

bool AttachHub::Receive(size_t client) {
  char packet[kAttachMaxPayload + 1];
  ssize_t n = recv(clients_[client].get(), packet, sizeof(packet), MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
  if (n <= 0) {
    clients_.erase(clients_.begin() + static_cast<ptrdiff_t>(client));
    return false;
  }
  const char* payload = packet + 1;
  const size_t size = static_cast<size_t>(n) - 1;
  switch (static_cast<AttachPacket>(packet[0])) {
    case AttachPacket::kStdin:
      if (input_fd_ < 0 || input_closed_ || close_after_flush_) break;
      pending_input_.append(payload, size);
      FlushInput();
      break;
    case AttachPacket::kResize: {
      uint16_t dims[2];
      if (!tty_ || size != sizeof(dims)) break;
      memcpy(dims, payload, sizeof(dims));
      struct winsize ws = {};
      ws.ws_row = dims[0];
      ws.ws_col = dims[1];
      (void)ioctl(tty_master_, TIOCSWINSZ, &ws);
      break;
    }
    case AttachPacket::kCloseStdin:
      if (input_fd_ < 0 || input_closed_) break;
      close_after_flush_ = true;
      FlushInput();
      break;
    default:
      break;  // output types and unknown ones are not for the shim
  }
  return true;
}

void AttachHub::FlushInput() {
  while (!pending_input_.empty() && input_fd_ >= 0) {
    ssize_t n = write(input_fd_, pending_input_.data(), pending_input_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // poll says when there is room
    if (n <= 0) {
      // EPIPE: nobody reads the container's stdin any more; EIO: the pty is gone.
      pending_input_.clear();
      CloseInput();
      return;
    }
    pending_input_.erase(0, static_cast<size_t>(n));
  }
  if (pending_input_.empty() && close_after_flush_) CloseInput();
}

void AttachHub::CloseInput() {
  close_after_flush_ = false;
  if (input_closed_) return;
  if (tty_) {
    // A terminal has no end of file: its EOF character ends a read in canonical mode. The pty
    // stays the container's stdin, so later input still reaches it.
    struct termios t;
    if (input_fd_ >= 0 && tcgetattr(input_fd_, &t) == 0) {
      char eof = static_cast<char>(t.c_cc[VEOF]);
      ssize_t unused = write(input_fd_, &eof, 1);
      (void)unused;
    }
    return;
  }
  input_closed_ = true;
  input_fd_ = -1;
  stdin_pipe_.Close();
}

void AttachHub::Shutdown() {
  clients_.clear();
  if (listen_fd_) {
    listen_fd_.Close();
    unlinkat(dir_fd_.get(), kAttachSocketName, 0);
  }
  stdin_pipe_.Close();
  input_fd_ = -1;
}

}  // namespace kapsel::shim
