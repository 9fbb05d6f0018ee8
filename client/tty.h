#pragma once

// The client's terminal: raw mode for `-it` (restored on every way out), its window size, and
// SIGWINCH turned into a readable fd. Not thread-safe; one per kapselctl invocation.

#include <termios.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace kapsel::client {

struct TerminalSize {
  uint32_t rows = 0;
  uint32_t cols = 0;
};

bool IsTerminal(int fd);
// The window size of the terminal `fd`; nullopt when it is not one.
std::optional<TerminalSize> GetTerminalSize(int fd);

// Puts the terminal `fd` in raw mode (cfmakeraw: no echo, no line editing, no signals from
// ^C/^Z, which go to the container's terminal instead) and restores the saved mode when
// destroyed. Move-only.
class RawTerminal {
 public:
  static absl::StatusOr<RawTerminal> Enter(int fd);
  RawTerminal(RawTerminal&& other) noexcept;
  RawTerminal& operator=(RawTerminal&&) = delete;
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal();

 private:
  RawTerminal(int fd, const struct termios& saved) : fd_(fd), saved_(saved) {}
  int fd_ = -1;
  struct termios saved_ = {};
};

// A self-pipe that becomes readable on every SIGWINCH while the watcher lives. One at a time.
class WindowChangeWatcher {
 public:
  static absl::StatusOr<WindowChangeWatcher> Start();
  WindowChangeWatcher(WindowChangeWatcher&& other) noexcept;
  WindowChangeWatcher& operator=(WindowChangeWatcher&&) = delete;
  WindowChangeWatcher(const WindowChangeWatcher&) = delete;
  WindowChangeWatcher& operator=(const WindowChangeWatcher&) = delete;
  ~WindowChangeWatcher();

  // Readable after a window change; Drain() empties it.
  int fd() const { return read_fd_; }
  void Drain();

 private:
  WindowChangeWatcher(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  int read_fd_ = -1;
  int write_fd_ = -1;
};

}  // namespace kapsel::client
