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

#include <cstddef>
#include <cstdint>

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

}  // namespace kapsel::shim
