#pragma once

// The attach socket between kapseld and a container's shim (DESIGN.md: "relays stdio to the log
// file and to an attach socket"). It is a SOCK_SEQPACKET socket, so each packet is one message:
// a type byte, then the payload. The shim listens on <shim dir>/attach.sock (mode 0600); kapseld
// connects for `attach`, or hands the shim one end of a socketpair at start (`--attach-fd`) so
// that a `run -it` sees the container's output from its first byte.
//
//   shim -> kapseld:  kStdout | bytes      kStderr | bytes
//   kapseld -> shim:  kStdin | bytes       kResize | u16 rows, u16 cols (host order)
//                     kCloseStdin          (end of input: the pipe is closed; on a pty, VEOF)
//
// The shim closes every connection once the container has exited and its output is drained.

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kapsel::shim {

inline constexpr char kAttachSocketName[] = "attach.sock";

enum class AttachPacket : uint8_t {
  kStdin = 0,
  kStdout = 1,
  kStderr = 2,
  kResize = 3,
  kCloseStdin = 4,
};

// The largest payload of one packet; output is read in chunks of this size.
inline constexpr size_t kAttachMaxPayload = 32 * 1024;

// Writes one packet of `type` with payload data[0..n) (n <= kAttachMaxPayload) to `out`, which
// has room for kAttachMaxPayload + 1 bytes; returns its length.
inline size_t EncodeAttachPacket(AttachPacket type, const char* data, size_t n, char* out) {
  out[0] = static_cast<char>(type);
  if (n > 0) memcpy(out + 1, data, n);
  return n + 1;
}

// send(2) of one encoded packet, retried on EINTR, never raising SIGPIPE. False on an error
// (errno set): the peer is gone.
inline bool SendEncodedAttachPacket(int fd, const char* packet, size_t length) {
  ssize_t sent;
  do {
    sent = send(fd, packet, length, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent >= 0;
}

// Sends `size` bytes as packets of `type`, split at kAttachMaxPayload; one empty packet when
// `size` is 0 (kCloseStdin). False when a send fails (errno set).
inline bool SendAttachPacket(int fd, AttachPacket type, const char* data, size_t size) {
  char packet[kAttachMaxPayload + 1];
  do {
    size_t n = size < kAttachMaxPayload ? size : kAttachMaxPayload;
    if (!SendEncodedAttachPacket(fd, packet, EncodeAttachPacket(type, data, n, packet))) {
      return false;
    }
    data += n;
    size -= n;
  } while (size > 0);
  return true;
}

// kResize: rows, then columns.
inline bool SendAttachResize(int fd, uint16_t rows, uint16_t cols) {
  const uint16_t dims[2] = {rows, cols};
  return SendAttachPacket(fd, AttachPacket::kResize, reinterpret_cast<const char*>(dims),
                          sizeof(dims));
}

}  // namespace kapsel::shim
