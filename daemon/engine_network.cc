// network connect/disconnect and the names of containers on user networks (/etc/hosts).

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/engine.h"
#include "daemon/engine_internal.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

using internal::SpecOf;
using store::ContainerRecord;
using store::EventRecord;

// Replaces the content of a bind-mounted file without a rename, which the mount would not see:
// the new bytes over the old, then the length. Unchanged content is not written at all.
absl::Status RewriteInPlace(const std::string& path, const std::string& content) {
  linux::UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string current;
  char buf[8192];
  while (current.size() <= content.size()) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    current.append(buf, n);
  }
  if (current == content) return absl::OkStatus();
  for (size_t done = 0; done < content.size();) {
    ssize_t n = pwrite(fd.get(), content.data() + done, content.size() - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
    done += n;
  }
  if (ftruncate(fd.get(), content.size()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("truncate ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> Engine::UserNetworksOf(const std::string& id) {
  std::vector<std::string> out;
  if (!network_) return out;
  auto mine = network_->AddressesOf(id);
  if (!mine.ok()) return out;
  for (const store::IpAllocation& a : *mine) {
    if (a.network != network_->default_network()) out.push_back(a.network);
  }
  return out;
}

absl::StatusOr<std::string> Engine::HostsOf(const std::string& id, const v1::ContainerSpec& spec,
                                            const std::string& address,
                                            const std::string& gateway) {
  const std::string hostname = spec.hostname().empty() ? id.substr(0, 12) : spec.hostname();
  std::string out = HostsFile(hostname, address);
  auto extra = ExtraHostsLines(spec.extra_hosts(), gateway);
  if (!extra.ok()) return extra.status();
  out += *extra;
  std::set<std::string> seen;
  for (const std::string& name : UserNetworksOf(id)) {
    auto members = network_->Endpoints(name);
    if (!members.ok()) return members.status();
    for (const store::IpAllocation& m : *members) {
      if (m.container_id == id) continue;
      // A container being created is not in SQLite yet: it comes in with its own refresh.
      auto peer = containers_.Get(m.container_id);
      if (!peer.ok()) continue;
      std::string names = absl::StrCat(peer->name, " ", peer->id.substr(0, 12));
      const v1::ContainerSpec peer_spec = SpecOf(*peer);
      if (!peer_spec.hostname().empty() && peer_spec.hostname() != peer->name) {
        absl::StrAppend(&names, " ", peer_spec.hostname());
      }
      if (!seen.insert(absl::StrCat(m.address, " ", names)).second) continue;
      absl::StrAppend(&out, m.address, "\t", names, "\n");
    }
  }
  return out;
}

void Engine::RewriteNetworkHosts(const std::string& name) {
  auto members = network_->Endpoints(name);
  if (!members.ok()) {
    spdlog::warn("hosts of network {}: {}", name, members.status().ToString());
    return;
  }
  absl::MutexLock lock(&hosts_mu_);
  for (const store::IpAllocation& m : *members) {
    auto rec = containers_.Get(m.container_id);
    if (!rec.ok()) continue;
    const v1::ContainerSpec spec = SpecOf(*rec);
    auto net = network_->Describe(rec->id, spec.network_mode());
    if (!net.ok()) continue;
    auto hosts = HostsOf(rec->id, spec, net->address, net->gateway);
    absl::Status s =
        hosts.ok() ? RewriteInPlace(ContainerDir(rec->id) + "/hosts", *hosts) : hosts.status();
    // A container removed meanwhile has no file any more: nothing to update.
    if (!s.ok() && !absl::IsNotFound(s)) {
      spdlog::warn("hosts of container {}: {}", rec->id.substr(0, 12), s.ToString());
    }
  }
}

void Engine::RefreshPeerHosts(const std::string& id) {
  for (const std::string& name : UserNetworksOf(id)) RewriteNetworkHosts(name);
}

absl::StatusOr<ConnectedNetwork> Engine::ConnectNetwork(const std::string& ref,
                                                        const std::string& network) {
  if (network.empty()) return absl::InvalidArgumentError("network: must be given");
  return WithContainer(ref, [&](store::ContainerRecord& rec) -> absl::StatusOr<ConnectedNetwork> {
    if (rec.state == "removing") {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", rec.name, " is being removed"));
    }
    const std::string mode = SpecOf(rec).network_mode();
    if (mode == "none" || mode == "host" || absl::StartsWith(mode, "container:") ||
        absl::StartsWith(mode, "cni:")) {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", rec.name, " has --network ", mode,
                       ": only containers on a bridge or user network can join another"));
    }
    if (network == "none" || network == "host") {
      return absl::InvalidArgumentError(
          absl::StrCat("network \"", network, "\" cannot be joined by a running container"));
    }
    const std::string name = network == "bridge" ? network_->default_network() : network;
    auto connected = network_->Connect(rec.id, name);
    if (!connected.ok()) return connected.status();
    EventRecord e;
    e.type = "connect";
    e.attributes = {{"network", name}, {"ip", connected->address}};
    if (auto s = Commit(rec, e); !s.ok()) {
      (void)network_->Disconnect(rec.id, name);
      return s;
    }
    RefreshPeerHosts(rec.id);
    spdlog::info("container {} joined network {} as {} ({})", rec.id.substr(0, 12), name,
                 connected->interface, connected->address);
    return connected;
  });
}

absl::Status Engine::DisconnectNetwork(const std::string& ref, const std::string& network) {
  if (network.empty()) return absl::InvalidArgumentError("network: must be given");
  return WithContainer(ref, [&](store::ContainerRecord& rec) -> absl::Status {
    const std::string name = network == "bridge" ? network_->default_network() : network;
    std::vector<std::string> before = UserNetworksOf(rec.id);
    if (auto s = network_->Disconnect(rec.id, name); !s.ok()) return s;
    EventRecord e;
    e.type = "disconnect";
    e.attributes = {{"network", name}};
    if (auto s = Commit(rec, e); !s.ok()) return s;
    // The network it left, and its own file (the peers of that network go).
    for (const std::string& n : before) RewriteNetworkHosts(n);
    spdlog::info("container {} left network {}", rec.id.substr(0, 12), name);
    return absl::OkStatus();
  });
}

}  // namespace kapsel::daemon
