#pragma once

// Published ports: the `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]` syntax. Pure.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kapsel::network {

enum class Protocol { kTcp, kUdp };

absl::string_view ProtocolName(Protocol protocol);  // "tcp" | "udp"

struct PortMapping {
  std::string host_ip;          // dotted IPv4; empty means every host address
  uint16_t host_port = 0;       // 0: any free port, chosen when the port is reserved
  uint16_t container_port = 0;  // 1..65535
  Protocol protocol = Protocol::kTcp;

  // The canonical spec, parseable again: "127.0.0.1:18080:80/tcp", "8080:80/udp".
  std::string ToString() const;
  friend bool operator==(const PortMapping& a, const PortMapping& b) = default;
};

// Parses one -p value. Accepted forms:
//   CONTAINERPORT                      any free host port, every host address
//   HOSTPORT:CONTAINERPORT
//   HOSTIP:HOSTPORT:CONTAINERPORT
//   HOSTIP::CONTAINERPORT              any free host port on HOSTIP
// each optionally followed by /tcp or /udp (default tcp). Errors are InvalidArgument and read
// `malformed -p "<spec>": <reason>`.
absl::StatusOr<PortMapping> ParsePortSpec(absl::string_view spec);

}  // namespace kapsel::network
