#pragma once

// NAT, published ports and isolation through libnftables (never the nft command), in one table
// that kapsel owns: every Apply replaces the whole table with the desired state in one nftables
// transaction, so the rules are rebuilt idempotently and never half-applied. Nothing outside the
// table is read or changed.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/network/port_spec.h"

struct nft_ctx;

namespace kapsel::network {

inline constexpr char kDefaultNftTable[] = "kapsel";

// A bridge network as the ruleset sees it.
struct NatNetwork {
  std::string bridge;     // interface name
  std::string subnet;     // "10.213.1.0/24"
  bool internal = false;  // no masquerade, no forwarding to or from other interfaces
};

// A published port: traffic to the host's mapping.host_ip:mapping.host_port (every local address
// when host_ip is empty, 127.0.0.1 included) goes to container_ip:mapping.container_port.
struct PublishedPort {
  PortMapping mapping;       // host_port must be set (non-zero)
  std::string container_ip;  // "10.213.1.2"
  std::string bridge;        // the bridge container_ip lives behind
};

struct NatState {
  std::vector<NatNetwork> networks;
  std::vector<PublishedPort> ports;
};

// The nft script that replaces table `ip <table>` with `state`. Pure. InvalidArgument for a bad
// table name (letters, digits, '_'), interface name, subnet or address.
//
// Published ports on 127.0.0.1 work through the output hook (locally generated traffic), which
// needs route_localnet=1 on the bridge (see EnableRouteLocalnet) and a masquerade of 127.0.0.0/8
// sources leaving through the bridge; the input chain then drops packets that arrive on a bridge
// for 127.0.0.0/8, so that route_localnet does not open the host's loopback services to containers
// (CVE-2020-8558).
absl::StatusOr<std::string> RenderNatTable(absl::string_view table, const NatState& state);

// One libnftables context. Move-only; not thread-safe.
class Nftables {
 public:
  static absl::StatusOr<Nftables> Create();

  Nftables(Nftables&&) noexcept = default;
  Nftables& operator=(Nftables&&) noexcept = default;
  ~Nftables();

  // Replaces table `ip <table>` with `state`, atomically.
  absl::Status Apply(absl::string_view table, const NatState& state);
  // Deletes table `ip <table>`. OK when it does not exist.
  absl::Status DeleteTable(absl::string_view table);
  absl::StatusOr<bool> HasTable(absl::string_view table);
  // `nft list table ip <table>`; NotFound when it does not exist.
  absl::StatusOr<std::string> ListTable(absl::string_view table);

  // Runs an nft script; returns its output. The error carries nft's own message.
  absl::StatusOr<std::string> Run(const std::string& script);

 private:
  struct CtxDeleter {
    void operator()(nft_ctx* ctx) const;
  };
  explicit Nftables(nft_ctx* ctx) : ctx_(ctx) {}

  std::unique_ptr<nft_ctx, CtxDeleter> ctx_;
};

// Writes 1 to /proc/sys/net/ipv4/conf/<bridge>/route_localnet, so DNAT of 127.0.0.1 towards the
// bridge can be routed. Touches only that bridge.
absl::Status EnableRouteLocalnet(const std::string& bridge);

// Writes 1 to /proc/sys/net/ipv4/ip_forward (host-wide), which containers on non-internal
// networks need to reach beyond the host. Docker does the same.
absl::Status EnableIpv4Forwarding();

}  // namespace kapsel::network
