#pragma once

// Networks and their IPv4 address allocations (issue 7). The kernel side (bridge, veth, nft) is in
// runtime/network; this only records what was decided, so that addresses survive daemon restarts
// and are never handed out twice.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/database.h"

namespace kapsel::store {

struct NetworkRecord {
  std::string name;       // unique, e.g. "bridge" for the default network
  std::string subnet;     // "10.213.1.0/24", unique, no two networks overlap
  std::string gateway;    // "10.213.1.1"; Create fills it in when empty
  std::string bridge;     // interface name, unique
  bool internal = false;  // no masquerade, no route out
  std::string driver = "bridge";
  int64_t created_at = 0;  // unix nanoseconds; Create fills it in when 0
};

struct IpAllocation {
  std::string network;
  std::string address;  // "10.213.1.2", without prefix
  std::string container_id;
  int iface = 0;  // ethN inside the container; 0 for the network it was created on
};

struct PublishedPortRecord {
  std::string container_id;
  std::string network;
  std::string host_ip;  // "" = every host address
  int host_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";  // "tcp" | "udp"
};

// Network and allocation rows. Does not own `db`, which must outlive it. Thread-safe (through
// Database); every multi-step change is one transaction.
class NetworkRepo {
 public:
  explicit NetworkRepo(Database* db) : db_(db) {}

  // InvalidArgument for a bad subnet; AlreadyExists `network "x" already exists` for a taken name
  // or bridge; FailedPrecondition `subnet A overlaps network "y" (B)` for an overlapping subnet.
  absl::Status Create(NetworkRecord& network);
  // NotFound `network "x" not found`.
  absl::StatusOr<NetworkRecord> Get(const std::string& name);
  // Ordered by name.
  absl::StatusOr<std::vector<NetworkRecord>> List();
  // FailedPrecondition `network "x" is in use by N container(s)` while addresses are allocated;
  // NotFound when missing.
  absl::Status Remove(const std::string& name);

  // The address of `container_id` on `network`: its existing one, or the lowest free address of
  // the subnet, recorded in the same transaction that chose it. ResourceExhausted when the subnet
  // is full; NotFound for an unknown network. `iface`: the container's interface (ethN) that
  // gets it.
  absl::StatusOr<std::string> Allocate(const std::string& network, const std::string& container_id,
                                       int iface = 0);
  // Idempotent.
  absl::Status Release(const std::string& network, const std::string& container_id);
  // Releases every address and published port of `container_id`. Idempotent.
  absl::Status ReleaseAll(const std::string& container_id);
  // All allocations, or those of one network; ordered by network and address.
  absl::StatusOr<std::vector<IpAllocation>> Allocations(const std::string& network = "");
  absl::StatusOr<std::vector<IpAllocation>> AllocationsOf(const std::string& container_id);

  // Records the published ports of one container, all or none. FailedPrecondition
  // `host port 127.0.0.1:8080/tcp is already published by <id12>` when one overlaps a recorded
  // port (same protocol and port, same host IP or either on every address).
  absl::Status AddPorts(const std::vector<PublishedPortRecord>& ports);
  // All published ports, or those of one container, ordered by host port.
  absl::StatusOr<std::vector<PublishedPortRecord>> Ports(const std::string& container_id = "");

 private:
  absl::StatusOr<std::vector<IpAllocation>> QueryAllocations(absl::string_view where,
                                                             const std::string& arg);
  Database* db_;
};

}  // namespace kapsel::store
