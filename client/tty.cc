#include "client/tty.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kapsel::client {
namespace {

// The write end of the active watcher's pipe, for the signal handler.
std::atomic<int> g_winch_fd{-1};

void OnWindowChange(int) {
  const int saved_errno = errno;
  int fd = g_winch_fd.load();
  if (fd >= 0) {
    char c = 1;
    ssize_t unused = write(fd, &c, 1);  // a full pipe already says "changed"
    (void)unused;
  }
  errno = saved_errno;
}

}  // namespace

bool IsTerminal(int fd) { return isatty(fd) == 1; }

std::optional<TerminalSize> GetTerminalSize(int fd) {
  struct winsize ws = {};
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return std::nullopt;
  return TerminalSize{ws.ws_row, ws.ws_col};
}

absl::StatusOr<RawTerminal> RawTerminal::Enter(int fd) {
  struct termios saved;
  if (tcgetattr(fd, &saved) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("tcgetattr fd ", fd));
  }
  struct termios raw = saved;
  cfmakeraw(&raw);
  if (tcsetattr(fd, TCSANOW, &raw) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("tcsetattr fd ", fd));
  }
  return RawTerminal(fd, saved);
}

RawTerminal::RawTerminal(RawTerminal&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), saved_(other.saved_) {}

RawTerminal::~RawTerminal() {
  if (fd_ >= 0) (void)tcsetattr(fd_, TCSANOW, &saved_);
}

absl::StatusOr<WindowChangeWatcher> WindowChangeWatcher::Start() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  g_winch_fd.store(fds[1]);
  struct sigaction sa = {};
  sa.sa_handler = OnWindowChange;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGWINCH, &sa, nullptr) != 0) {
    int err = errno;
    g_winch_fd.store(-1);
    close(fds[0]);
    close(fds[1]);
    return absl::ErrnoToStatus(err, "sigaction SIGWINCH");
  }
  return WindowChangeWatcher(fds[0], fds[1]);
}

WindowChangeWatcher::WindowChangeWatcher(WindowChangeWatcher&& other) noexcept
    : read_fd_(std::exchange(other.read_fd_, -1)), write_fd_(std::exchange(other.write_fd_, -1)) {}

WindowChangeWatcher::~WindowChangeWatcher() {
  if (write_fd_ < 0) return;
  signal(SIGWINCH, SIG_DFL);
  g_winch_fd.store(-1);
  close(read_fd_);
  close(write_fd_);
}

void WindowChangeWatcher::Drain() {
  char buf[64];
  while (read(read_fd_, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace kapsel::client
