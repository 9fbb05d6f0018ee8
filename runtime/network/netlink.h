#pragma once

// Links, addresses and routes through rtnetlink with libnl-route-3 (never the ip command).
//
// A RouteSocket talks to the network namespace of the thread that opened it, for its whole life:
// to configure a container's namespace, open one inside RunInNetns (runtime/network/netns.h).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct nl_sock;

namespace kapsel::network {

struct BridgeConfig {
  std::string name;     // at most 15 bytes (IFNAMSIZ - 1)
  int mtu = 1500;       // bytes
  std::string address;  // the gateway with its prefix, "10.213.1.1/24"
};

struct LinkInfo {
  std::string name;
  int index = 0;
  std::string type;  // "bridge", "veth", ... ("" for a physical or typeless link)
  int master = 0;    // ifindex of the bridge it is attached to, 0 for none
  int mtu = 0;       // bytes
  bool up = false;   // IFF_UP
};

// One NETLINK_ROUTE socket. Move-only; not thread-safe (one socket, one request at a time).
// Errors are Statuses naming the operation and the link, with libnl's message; NotFound for a
// missing link, AlreadyExists for a taken name.
class RouteSocket {
 public:
  static absl::StatusOr<RouteSocket> Open();

  RouteSocket(RouteSocket&&) noexcept = default;
  RouteSocket& operator=(RouteSocket&&) noexcept = default;
  ~RouteSocket();

  // Creates the bridge when missing, then sets its MTU, adds its address (kept if present) and
  // brings it up. Idempotent. FailedPrecondition when `name` exists but is not a bridge.
  absl::Status EnsureBridge(const BridgeConfig& config);

  // Creates a veth pair `name` <-> `peer_name`, both in this socket's namespace, with `mtu`.
  absl::Status CreateVethPair(const std::string& name, const std::string& peer_name, int mtu);

  // Moves link `name` into the network namespace of `netns_fd` (IFLA_NET_NS_FD).
  absl::Status MoveToNetns(const std::string& name, int netns_fd);

  // Renames a link; it must be down.
  absl::Status Rename(const std::string& name, const std::string& new_name);

  // Attaches link `name` to bridge `bridge` (IFLA_MASTER).
  absl::Status AttachToBridge(const std::string& name, const std::string& bridge);

  absl::Status SetUp(const std::string& name);

  // Adds `address` ("10.213.1.2/24") to link `name`. OK when it is already there.
  absl::Status AddAddress(const std::string& name, const std::string& address);

  // Adds the IPv4 default route via `gateway` ("10.213.1.1") on link `name`.
  absl::Status AddDefaultRoute(const std::string& name, const std::string& gateway);

  // Deletes link `name` (for a veth, its peer goes with it). NotFound when missing.
  absl::Status DeleteLink(const std::string& name);

  absl::StatusOr<LinkInfo> GetLink(const std::string& name);
  absl::StatusOr<std::vector<LinkInfo>> ListLinks();
  // Every IPv4 and IPv6 address as "<link>:<address>/<prefix>", sorted, for leftover checks.
  absl::StatusOr<std::vector<std::string>> ListAddresses();

 private:
  struct SockDeleter {
    void operator()(nl_sock* sock) const;
  };
  explicit RouteSocket(nl_sock* sock) : sock_(sock) {}

  std::unique_ptr<nl_sock, SockDeleter> sock_;
};

}  // namespace kapsel::network
