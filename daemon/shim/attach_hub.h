#pragma once

// The shim's side of the attach socket (attach_protocol.h): the listening socket, the attached
// connections, and the container's input. Driven by the shim's single poll loop: Fill() adds its
// fds to the poll set, Handle() acts on what poll returned.

#include <poll.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "daemon/shim/attach_protocol.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::shim {

class AttachHub {
 public:
  // Listens on `dir`/attach.sock. With a terminal, `tty_master` (not owned) takes the window
  // size, and the input too when `tty_input`. Without one, stdin packets go to `stdin_pipe` (the
  // write end of the container's stdin, owned from now on). With neither the container has no
  // input, and they are dropped.
  static absl::StatusOr<AttachHub> Listen(const std::string& dir, linux::UniqueFd stdin_pipe,
                                          int tty_master, bool tty_input);

  AttachHub(AttachHub&&) = default;
  AttachHub& operator=(AttachHub&&) = default;
  ~AttachHub();

  // A connection made before the container starts (kapseld's `--attach-fd`).
  void AddClient(linux::UniqueFd fd);
  // Acts on the packets already queued on every connection (before the launch: the window
  // size the container's terminal starts with).
  void ReceivePending();
  // Sends output to every connection; one that cannot take it within a few seconds is dropped,
  // so a stuck client stalls the container's output at most that long, once.
  void Broadcast(AttachPacket type, const char* data, size_t size);

  // Appends this hub's fds to `fds`; Handle() then reads the same entries back.
  void Fill(std::vector<struct pollfd>* fds);
  void Handle(const std::vector<struct pollfd>& fds);

  // Closes every connection and removes the socket.
  void Shutdown();

 private:
  AttachHub() = default;
  // False when nothing was there (or the client was dropped).
  bool Receive(size_t client);
  void FlushInput();
  void CloseInput();

  std::string socket_path_;
  linux::UniqueFd dir_fd_;
  linux::UniqueFd listen_fd_;
  std::vector<linux::UniqueFd> clients_;
  linux::UniqueFd stdin_pipe_;
  int input_fd_ = -1;  // stdin_pipe_ or the pty master
  int tty_master_ = -1;
  bool tty_ = false;
  bool input_closed_ = false;
  bool close_after_flush_ = false;
  std::string pending_input_;
  size_t first_ = 0;  // where Fill() put its entries
};

}  // namespace kapsel::shim
