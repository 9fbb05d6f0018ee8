#include "runtime/network/port_spec.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/network/ipam.h"

namespace kapsel::network {
namespace {

absl::Status Malformed(absl::string_view spec, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("malformed -p \"", spec, "\": ", reason));
}

// A port number 1..65535 written in decimal digits only; `what` names it in errors.
absl::StatusOr<uint16_t> ParsePort(absl::string_view spec, absl::string_view text,
                                   absl::string_view what) {
  uint32_t port = 0;
  if (text.empty()) return Malformed(spec, absl::StrCat(what, " is missing"));
  if (text.size() > 5 || text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(text, &port) || port == 0 || port > 65535) {
    return Malformed(spec, absl::StrCat(what, " \"", text, "\" is not a port number 1-65535"));
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

absl::string_view ProtocolName(Protocol protocol) {
  return protocol == Protocol::kUdp ? "udp" : "tcp";
}

std::string PortMapping::ToString() const {
  std::string out;
  if (!host_ip.empty()) absl::StrAppend(&out, host_ip, ":");
  if (host_port != 0) {
    absl::StrAppend(&out, host_port, ":");
  } else if (!host_ip.empty()) {
    absl::StrAppend(&out, ":");
  }
  absl::StrAppend(&out, container_port, "/", ProtocolName(protocol));
  return out;
}

absl::StatusOr<PortMapping> ParsePortSpec(absl::string_view spec) {
  if (spec.empty()) return Malformed(spec, "empty port specification");
  PortMapping mapping;
  absl::string_view ports = spec;
  size_t slash = spec.rfind('/');
  if (slash != absl::string_view::npos) {
    absl::string_view protocol = spec.substr(slash + 1);
    if (protocol == "tcp") {
      mapping.protocol = Protocol::kTcp;
    } else if (protocol == "udp") {
      mapping.protocol = Protocol::kUdp;
    } else {
      return Malformed(spec, absl::StrCat("unknown protocol \"", protocol, "\" (want tcp or udp)"));
    }
    ports = spec.substr(0, slash);
  }
  std::vector<absl::string_view> parts = absl::StrSplit(ports, ':');
  if (parts.size() > 3) {
    return Malformed(spec, "want [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]");
  }
  absl::StatusOr<uint16_t> container_port = ParsePort(spec, parts.back(), "container port");
  if (!container_port.ok()) return container_port.status();
  mapping.container_port = *container_port;
  if (parts.size() >= 2) {
    absl::string_view host_port = parts[parts.size() - 2];
    if (!host_port.empty() || parts.size() == 2) {
      absl::StatusOr<uint16_t> port = ParsePort(spec, host_port, "host port");
      if (!port.ok()) return port.status();
      mapping.host_port = *port;
    }
  }
  if (parts.size() == 3) {
    if (parts[0].empty()) return Malformed(spec, "host IP is empty");
    absl::StatusOr<uint32_t> address = ParseIpv4(parts[0]);
    if (!address.ok()) {
      return Malformed(spec, absl::StrCat("host IP \"", parts[0], "\" is not an IPv4 address"));
    }
    // Canonical form, so "127.000.0.1" and "127.0.0.1" compare equal in conflict checks.
    mapping.host_ip = FormatIpv4(*address);
    if (*address == 0) mapping.host_ip.clear();
  }
  return mapping;
}

}  // namespace kapsel::network
