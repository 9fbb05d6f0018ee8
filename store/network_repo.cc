#include "store/network_repo.h"

#include <time.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "runtime/network/ipam.h"

namespace kapsel::store {
namespace {

using network::FormatIpv4;
using network::Ipv4Subnet;
using network::ParseIpv4;

constexpr char kColumns[] = "name, subnet, gateway, bridge, internal, driver, created_at";

int64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

NetworkRecord ReadNetwork(const Statement& stmt) {
  NetworkRecord n;
  n.name = stmt.ColumnText(0);
  n.subnet = stmt.ColumnText(1);
  n.gateway = stmt.ColumnText(2);
  n.bridge = stmt.ColumnText(3);
  n.internal = stmt.ColumnInt64(4) != 0;
  n.driver = stmt.ColumnText(5);
  n.created_at = stmt.ColumnInt64(6);
  return n;
}

absl::Status NoSuchNetwork(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("network \"", name, "\" not found"));
}

}  // namespace

absl::Status NetworkRepo::Create(NetworkRecord& n) {
  if (n.name.empty()) return absl::InvalidArgumentError("network name is empty");
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(n.subnet);
  if (!subnet.ok()) return subnet.status();
  n.subnet = subnet->ToString();
  if (n.gateway.empty()) n.gateway = FormatIpv4(subnet->gateway());
  absl::StatusOr<uint32_t> gateway = ParseIpv4(n.gateway);
  if (!gateway.ok()) return gateway.status();
  if (!subnet->Contains(*gateway) || *gateway == subnet->network() ||
      *gateway == subnet->broadcast()) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway ", n.gateway, " is not a host address of subnet ", n.subnet));
  }
  if (n.created_at == 0) n.created_at = NowNanos();
  return db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<NetworkRecord>> existing = List();
    if (!existing.ok()) return existing.status();
    for (const NetworkRecord& other : *existing) {
      if (other.name == n.name) {
        return absl::AlreadyExistsError(absl::StrCat("network \"", n.name, "\" already exists"));
      }
      if (other.bridge == n.bridge) {
        return absl::AlreadyExistsError(
            absl::StrCat("bridge ", n.bridge, " is already used by network \"", other.name, "\""));
      }
      absl::StatusOr<Ipv4Subnet> other_subnet = Ipv4Subnet::Parse(other.subnet);
      if (other_subnet.ok() && other_subnet->Overlaps(*subnet)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "subnet ", n.subnet, " overlaps network \"", other.name, "\" (", other.subnet, ")"));
      }
    }
    absl::StatusOr<Statement> stmt = db_->Prepare(
        absl::StrCat("INSERT INTO networks (", kColumns, ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, n.name)
        .Bind(2, n.subnet)
        .Bind(3, n.gateway)
        .Bind(4, n.bridge)
        .Bind(5, int64_t{n.internal ? 1 : 0})
        .Bind(6, n.driver)
        .Bind(7, n.created_at);
    return stmt->Run();
  });
}

absl::StatusOr<NetworkRecord> NetworkRepo::Get(const std::string& name) {
  absl::StatusOr<Statement> stmt =
      db_->Prepare(absl::StrCat("SELECT ", kColumns, " FROM networks WHERE name = ?"));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, name);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return NoSuchNetwork(name);
  return ReadNetwork(*stmt);
}

absl::StatusOr<std::vector<NetworkRecord>> NetworkRepo::List() {
  absl::StatusOr<Statement> stmt =
      db_->Prepare(absl::StrCat("SELECT ", kColumns, " FROM networks ORDER BY name"));
  if (!stmt.ok()) return stmt.status();
  std::vector<NetworkRecord> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ReadNetwork(*stmt));
  }
  return out;
}

absl::Status NetworkRepo::Remove(const std::string& name) {
  return db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<IpAllocation>> in_use = Allocations(name);
    if (!in_use.ok()) return in_use.status();
    if (!in_use->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("network \"", name, "\" is in use by ", in_use->size(), " container(s)"));
    }
    absl::StatusOr<Statement> stmt =
        db_->Prepare("DELETE FROM networks WHERE name = ? RETURNING name");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, name);
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) return NoSuchNetwork(name);
    return stmt->Run();
  });
}

absl::StatusOr<std::string> NetworkRepo::Allocate(const std::string& network,
                                                  const std::string& container_id, int iface) {
  std::string address;
  // BEGIN IMMEDIATE takes the write lock before the read, so two daemons (or threads) choosing at
  // once are serialized; UNIQUE(network, address) backs that up.
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<NetworkRecord> n = Get(network);
    if (!n.ok()) return n.status();
    absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(n->subnet);
    if (!subnet.ok()) return subnet.status();
    absl::StatusOr<std::vector<IpAllocation>> current = Allocations(network);
    if (!current.ok()) return current.status();
    absl::flat_hash_set<uint32_t> used;
    for (const IpAllocation& a : *current) {
      if (a.container_id == container_id) {
        address = a.address;
        return absl::OkStatus();
      }
      absl::StatusOr<uint32_t> ip = ParseIpv4(a.address);
      if (ip.ok()) used.insert(*ip);
    }
    absl::StatusOr<uint32_t> gateway = ParseIpv4(n->gateway);
    if (gateway.ok()) used.insert(*gateway);
    absl::StatusOr<uint32_t> free = network::NextFreeAddress(*subnet, used);
    if (!free.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("network \"", network, "\": ", free.status().message()));
    }
    address = FormatIpv4(*free);
    absl::StatusOr<Statement> stmt = db_->Prepare(
        "INSERT INTO ip_allocations (network, address, container_id, iface) VALUES (?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, network).Bind(2, address).Bind(3, container_id).Bind(4, int64_t{iface});
    return stmt->Run();
  });
  if (!status.ok()) return status;
  return address;
}

absl::Status NetworkRepo::Release(const std::string& network, const std::string& container_id) {
  absl::StatusOr<Statement> stmt =
      db_->Prepare("DELETE FROM ip_allocations WHERE network = ? AND container_id = ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, network).Bind(2, container_id);
  return stmt->Run();
}

absl::Status NetworkRepo::ReleaseAll(const std::string& container_id) {
  return db_->InTransaction([&]() -> absl::Status {
    for (const char* sql : {"DELETE FROM published_ports WHERE container_id = ?",
                            "DELETE FROM ip_allocations WHERE container_id = ?"}) {
      absl::StatusOr<Statement> stmt = db_->Prepare(sql);
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, container_id);
      if (absl::Status status = stmt->Run(); !status.ok()) return status;
    }
    return absl::OkStatus();
  });
}

absl::Status NetworkRepo::AddPorts(const std::vector<PublishedPortRecord>& ports) {
  return db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<PublishedPortRecord>> existing = Ports();
    if (!existing.ok()) return existing.status();
    for (const PublishedPortRecord& p : ports) {
      for (const PublishedPortRecord& e : *existing) {
        if (e.protocol == p.protocol && e.host_port == p.host_port &&
            (e.host_ip.empty() || p.host_ip.empty() || e.host_ip == p.host_ip)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "host port ", p.host_ip.empty() ? "0.0.0.0" : p.host_ip, ":", p.host_port, "/",
              p.protocol, " is already published by ", e.container_id.substr(0, 12)));
        }
      }
      absl::StatusOr<Statement> stmt = db_->Prepare(
          "INSERT INTO published_ports (container_id, network, host_ip, host_port, "
          "container_port, protocol) VALUES (?, ?, ?, ?, ?, ?)");
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, p.container_id)
          .Bind(2, p.network)
          .Bind(3, p.host_ip)
          .Bind(4, int64_t{p.host_port})
          .Bind(5, int64_t{p.container_port})
          .Bind(6, p.protocol);
      if (absl::Status status = stmt->Run(); !status.ok()) return status;
      existing->push_back(p);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<PublishedPortRecord>> NetworkRepo::Ports(
    const std::string& container_id) {
  absl::StatusOr<Statement> stmt = db_->Prepare(absl::StrCat(
      "SELECT container_id, network, host_ip, host_port, container_port, protocol "
      "FROM published_ports ",
      container_id.empty() ? "" : "WHERE container_id = ? ", "ORDER BY host_port, host_ip"));
  if (!stmt.ok()) return stmt.status();
  if (!container_id.empty()) stmt->Bind(1, container_id);
  std::vector<PublishedPortRecord> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    PublishedPortRecord p;
    p.container_id = stmt->ColumnText(0);
    p.network = stmt->ColumnText(1);
    p.host_ip = stmt->ColumnText(2);
    p.host_port = static_cast<int>(stmt->ColumnInt64(3));
    p.container_port = static_cast<int>(stmt->ColumnInt64(4));
    p.protocol = stmt->ColumnText(5);
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::vector<IpAllocation>> NetworkRepo::QueryAllocations(absl::string_view where,
                                                                        const std::string& arg) {
  // Sorted numerically by address would need the parse; text order is stable and enough here.
  absl::StatusOr<Statement> stmt =
      db_->Prepare(absl::StrCat("SELECT network, address, container_id, iface FROM ip_allocations ",
                                where, " ORDER BY network, address"));
  if (!stmt.ok()) return stmt.status();
  if (!where.empty()) stmt->Bind(1, arg);
  std::vector<IpAllocation> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnText(2),
                   static_cast<int>(stmt->ColumnInt64(3))});
  }
  return out;
}

absl::StatusOr<std::vector<IpAllocation>> NetworkRepo::Allocations(const std::string& network) {
  if (network.empty()) return QueryAllocations("", "");
  return QueryAllocations("WHERE network = ?", network);
}

absl::StatusOr<std::vector<IpAllocation>> NetworkRepo::AllocationsOf(
    const std::string& container_id) {
  return QueryAllocations("WHERE container_id = ?", container_id);
}

}  // namespace kapsel::store
