#include "runtime/network/port_reservation.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "runtime/linux/syscalls.h"
#include "runtime/network/ipam.h"

namespace kapsel::network {
namespace {

std::string HostPortName(const PortMapping& m) {
  return absl::StrCat(m.host_ip.empty() ? "0.0.0.0" : m.host_ip, ":", m.host_port, "/",
                      ProtocolName(m.protocol));
}

}  // namespace

absl::Status CheckPublishedConflict(const std::vector<PortMapping>& published,
                                    const PortMapping& wanted) {
  if (wanted.host_port == 0) return absl::OkStatus();
  for (const PortMapping& p : published) {
    if (p.protocol != wanted.protocol || p.host_port != wanted.host_port) continue;
    if (p.host_ip.empty() || wanted.host_ip.empty() || p.host_ip == wanted.host_ip) {
      return absl::FailedPreconditionError(absl::StrCat(
          "host port ", HostPortName(wanted), " is already published (", p.ToString(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<linux::UniqueFd> ReserveHostPort(PortMapping* mapping) {
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(mapping->host_port);
  if (!mapping->host_ip.empty()) {
    absl::StatusOr<uint32_t> ip = ParseIpv4(mapping->host_ip);
    if (!ip.ok()) return ip.status();
    addr.sin_addr.s_addr = htonl(*ip);
  }
  bool tcp = mapping->protocol == Protocol::kTcp;
  linux::UniqueFd fd(socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd) return linux::ErrnoStatus(errno, "socket AF_INET");
  // No SO_REUSEADDR: with it, two bound (not listening) TCP sockets may share a port, and the
  // reservation would no longer exclude another reservation (tcp(7), socket(7)).
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
    int err = errno;
    if (err == EADDRINUSE) {
      return absl::FailedPreconditionError(
          absl::StrCat("host port ", HostPortName(*mapping), " is already in use"));
    }
    if (err == EADDRNOTAVAIL) {
      return absl::InvalidArgumentError(
          absl::StrCat("host IP ", mapping->host_ip, " is not an address of this host"));
    }
    return linux::ErrnoStatus(err, absl::StrCat("bind ", HostPortName(*mapping)));
  }
  if (mapping->host_port == 0) {
    socklen_t len = sizeof(addr);
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
      return linux::ErrnoStatus(errno, "getsockname");
    }
    mapping->host_port = ntohs(addr.sin_port);
  }
  return fd;
}

}  // namespace kapsel::network
