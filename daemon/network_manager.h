#pragma once

// Container networking for the engine (issue 7): a network namespace per container made before
// start and bind-mounted under the exec root, the bridge driver (veth into the namespace, eth0,
// address from the network's subnet, default route), published ports and the nft table.
//
// The engine calls Prepare at create (the namespace's path then goes into the OCI config as the
// network namespace's `path`), Release when the container is removed, and Reconcile at daemon
// start with every container it knows, which removes whatever a crash left behind and rebuilds
// the nft table.
//
// Thread-safe: one mutex serializes every operation (they change shared kernel state: bridges and
// the single nft table).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/cni.h"
#include "runtime/network/port_spec.h"
#include "store/database.h"
#include "store/network_repo.h"

namespace kapsel::daemon {

struct NetworkManagerOptions {
  std::string netns_dir = "/run/kapsel/netns";  // created when missing
  std::string nft_table = "kapsel";
  std::string default_network = "bridge";  // the network of --network bridge (and of no flag)
  std::string default_bridge = "kapsel0";
  std::string default_subnet = "10.213.0.0/24";
  int mtu = 1500;  // bytes, bridges and veths
  // Host-wide net.ipv4.ip_forward=1 when a non-internal network is used; off in tests.
  bool enable_ip_forward = true;
  // Prefixes of kapsel's host-side interface names; tests use their own so that Reconcile never
  // touches another test's (or the daemon's) links.
  // Host end: <prefix><first hex digits of the id>; the peer, before it moves: <prefix>p<...>.
  // At most 6 bytes, leaving 8 or more digits of the id.
  std::string veth_prefix = "kv";
  std::string bridge_prefix = "kb";
  // CNI (--network cni:NAME): network configuration lists, plugin binaries, and where the ADD
  // results are kept for DEL (under the data root: host-local's reservations outlive a reboot).
  std::string cni_config_dir = "/etc/cni/net.d";
  std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
  std::string cni_cache_dir;  // empty: <netns_dir>/../cni
};

// A further network a container joined with Connect: its interface ethN (N >= 1).
struct ConnectedNetwork {
  std::string network;
  std::string address;
  int prefix_length = 0;
  std::string interface;  // "eth1"
};

// What a container was given.
struct NetworkAttachment {
  std::string mode;        // "none" | "host" | "bridge" | "container" | "network" | "cni"
  std::string netns_path;  // empty for host mode: the config then has no network namespace
  std::string network;     // network name, bridge modes only
  std::string address;     // "10.213.0.2", bridge modes only
  int prefix_length = 0;
  std::string gateway;                      // empty on an internal network (no route out)
  std::vector<network::PortMapping> ports;  // host ports filled in
  std::vector<ConnectedNetwork> connected;  // Connect, in the order of the interfaces
  // Prepare made the bridge attachment now (at create, or after a reboot took the namespace):
  // addresses may be new. False when it reported what was there already.
  bool fresh = false;
};

class NetworkManager {
 public:
  // Opens the nft context, creates netns_dir and records the default network when missing
  // (FailedPrecondition when its subnet overlaps an address of the host).
  static absl::StatusOr<std::unique_ptr<NetworkManager>> Create(store::Database* db,
                                                                NetworkManagerOptions options);
  ~NetworkManager();

  // `mode`: "" or "bridge" (the default network), "none", "host", "container:<id>" (an id the
  // engine resolved; that container's namespace is shared), "cni:NAME" (the plugins of CNI
  // network list NAME, runtime/network/cni.h), or a network name. `publish`: -p
  // values. Validates everything before changing anything, and undoes its own work on failure.
  // Idempotent: for a container whose namespace exists, returns what it was given (`publish` is
  // then ignored).
  // InvalidArgument for a malformed -p, NotFound for an unknown network, FailedPrecondition for a
  // taken host port.
  // `user_ns_fd`: a remapped container's user namespace, which then owns the network namespace
  // made here (-1: the host's).
  absl::StatusOr<NetworkAttachment> Prepare(const std::string& container_id,
                                            const std::string& mode,
                                            const std::vector<std::string>& publish,
                                            int user_ns_fd = -1);

  // What Prepare gave the container, from SQLite alone (inspect, ps). Changes nothing.
  absl::StatusOr<NetworkAttachment> Describe(const std::string& container_id,
                                             const std::string& mode);

  // Joins the container, whose own namespace Prepare made (bridge or network mode: the engine
  // checks), to network `name`: a veth attached to its bridge, ethN inside with the next free N,
  // an address from its subnet, and no default route (the first network keeps it). NotFound for
  // an unknown network, AlreadyExists when the container is on it, FailedPrecondition without a
  // namespace, ResourceExhausted past eth15. Undoes its own work on failure.
  absl::StatusOr<ConnectedNetwork> Connect(const std::string& container_id,
                                           const std::string& name);
  // Undoes Connect. NotFound when the container is not on `name`; FailedPrecondition for the
  // network it was created on.
  absl::Status Disconnect(const std::string& container_id, const std::string& name);
  // The networks the container has an address on, the first one first.
  absl::StatusOr<std::vector<store::IpAllocation>> AddressesOf(const std::string& container_id) {
    return repo_.AllocationsOf(container_id);
  }
  const std::string& default_network() const { return options_.default_network; }

  // Removes the container's veth, namespace mount, address, ports and nft rules. Idempotent.
  absl::Status Release(const std::string& container_id);

  // Releases every namespace, veth, address and port that belongs to no container in
  // `known_ids`, re-reserves the host ports of the known ones and rebuilds the nft table. Errors
  // are collected; it goes on past each one.
  absl::Status Reconcile(const std::vector<std::string>& known_ids);

  // User-defined networks. The bridge is created on first use and removed with the network.
  absl::StatusOr<store::NetworkRecord> CreateNetwork(const std::string& name,
                                                     const std::string& subnet, bool internal);
  absl::Status RemoveNetwork(const std::string& name);
  absl::StatusOr<std::vector<store::NetworkRecord>> ListNetworks() { return repo_.List(); }
  absl::StatusOr<store::NetworkRecord> GetNetwork(const std::string& name) {
    return repo_.Get(name);
  }
  // The addresses handed out on network `name`.
  absl::StatusOr<std::vector<store::IpAllocation>> Endpoints(const std::string& name) {
    return repo_.Allocations(name);
  }

  std::string NetnsPath(const std::string& container_id) const;
  // `iface` N > 0: the veth of ethN (Connect).
  std::string VethName(const std::string& container_id, int iface = 0) const;
  // The veth's other end while it is still on the host.
  std::string PeerName(const std::string& container_id, int iface = 0) const;

 private:
  NetworkManager(store::Database* db, NetworkManagerOptions options);

  // The highest N of an ethN (Connect): the veth names have one hex digit for it.
  static constexpr int kMaxInterface = 15;

  absl::Status ReleaseLocked(const std::string& container_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // --network cni:NAME: a namespace, then the list's plugins (ADD) with eth0; the result is
  // cached (runtime/network/cni.h) for Describe and for the DEL of Release.
  absl::StatusOr<NetworkAttachment> PrepareCniLocked(const std::string& container_id,
                                                     const std::string& mode, bool prepared,
                                                     int user_ns_fd)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  network::CniOptions CniOptionsOf() const;
  // (network, container id) of every cached CNI attachment.
  std::vector<std::pair<std::string, std::string>> CniAttachments() const;
  absl::StatusOr<ConnectedNetwork> ConnectLocked(const std::string& container_id,
                                                 const std::string& name, int iface)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `out->connected` from the container's allocations.
  absl::Status FillConnected(const std::vector<store::IpAllocation>& allocations,
                             NetworkAttachment* out);
  // Rebuilds the nft table from the networks and ports in SQLite.
  absl::Status ApplyNftLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckHostOverlap(const std::string& subnet);
  // Attaches interface ethN (`iface`) of the namespace to the network's bridge; only eth0 gets
  // the default route.
  absl::Status AttachBridge(const std::string& container_id, const store::NetworkRecord& network,
                            const std::string& address, const std::string& netns_path,
                            int iface = 0);

  store::Database* db_;
  store::NetworkRepo repo_;
  const NetworkManagerOptions options_;
  absl::Mutex mu_;
  // Bound sockets holding each container's published host ports (port_reservation.h).
  std::map<std::string, std::vector<linux::UniqueFd>> reservations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kapsel::daemon
