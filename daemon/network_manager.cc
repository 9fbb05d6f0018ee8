#include "daemon/network_manager.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/linux/syscalls.h"
#include "runtime/network/cni.h"
#include "runtime/network/ipam.h"
#include "runtime/network/netlink.h"
#include "runtime/network/netns.h"
#include "runtime/network/nft.h"
#include "runtime/network/port_reservation.h"

namespace kapsel::daemon {
namespace {

using network::Ipv4Subnet;
using network::PortMapping;

absl::Status MkdirAll(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST) {
      return linux::ErrnoStatus(errno, absl::StrCat("mkdir ", prefix));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

// A stable 64-bit FNV-1a, so a network's bridge name does not change across daemon versions.
uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

store::PublishedPortRecord ToRecord(const std::string& id, const std::string& network,
                                    const PortMapping& m) {
  return {id,          network,          m.host_ip,
          m.host_port, m.container_port, std::string(network::ProtocolName(m.protocol))};
}

PortMapping FromRecord(const store::PublishedPortRecord& p) {
  return {p.host_ip, static_cast<uint16_t>(p.host_port), static_cast<uint16_t>(p.container_port),
          p.protocol == "udp" ? network::Protocol::kUdp : network::Protocol::kTcp};
}

// The CNI network list of --network cni:NAME, "" for any other mode.
std::string CniNetworkOf(absl::string_view mode) {
  return absl::StartsWith(mode, "cni:") ? std::string(mode.substr(strlen("cni:"))) : "";
}

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

}  // namespace

NetworkManager::NetworkManager(store::Database* db, NetworkManagerOptions options)
    : db_(db), repo_(db), options_(std::move(options)) {}

NetworkManager::~NetworkManager() = default;

absl::StatusOr<std::unique_ptr<NetworkManager>> NetworkManager::Create(
    store::Database* db, NetworkManagerOptions options) {
  if (options.veth_prefix.empty() || options.veth_prefix.size() > 6) {
    return absl::InvalidArgumentError("veth prefix must have 1 to 6 bytes");
  }
  std::unique_ptr<NetworkManager> m(new NetworkManager(db, std::move(options)));
  if (absl::Status s = MkdirAll(m->options_.netns_dir); !s.ok()) return s;
  absl::StatusOr<store::NetworkRecord> existing = m->repo_.Get(m->options_.default_network);
  if (absl::IsNotFound(existing.status())) {
    if (absl::Status s = m->CheckHostOverlap(m->options_.default_subnet); !s.ok()) {
      return Annotate(s, absl::StrCat("default network \"", m->options_.default_network, "\""));
    }
    store::NetworkRecord n;
    n.name = m->options_.default_network;
    n.subnet = m->options_.default_subnet;
    n.bridge = m->options_.default_bridge;
    if (absl::Status s = m->repo_.Create(n); !s.ok()) return s;
  } else if (!existing.ok()) {
    return existing.status();
  }
  return m;
}

std::string NetworkManager::NetnsPath(const std::string& container_id) const {
  return absl::StrCat(options_.netns_dir, "/", container_id);
}

// Interface names have at most 15 bytes (IFNAMSIZ - 1): the peer's prefix, 'p' and the digits.
// The veth of ethN (N >= 1) ends in 'n' and N as one hex digit; 'n' and 'p' are no hex digits, so
// no two of these names are equal.
std::string NetworkManager::VethName(const std::string& container_id, int iface) const {
  const size_t digits = 14 - options_.veth_prefix.size();
  if (iface == 0) return absl::StrCat(options_.veth_prefix, container_id.substr(0, digits));
  return absl::StrCat(options_.veth_prefix, container_id.substr(0, digits - 2), "n",
                      absl::StrFormat("%x", iface));
}

std::string NetworkManager::PeerName(const std::string& container_id, int iface) const {
  const size_t digits = 14 - options_.veth_prefix.size();
  if (iface == 0) return absl::StrCat(options_.veth_prefix, "p", container_id.substr(0, digits));
  return absl::StrCat(options_.veth_prefix, "p", container_id.substr(0, digits - 2), "n",
                      absl::StrFormat("%x", iface));
}

absl::Status NetworkManager::CheckHostOverlap(const std::string& subnet_text) {
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(subnet_text);
  if (!subnet.ok()) return subnet.status();
  std::set<std::string> own_bridges = {options_.default_bridge};
  absl::StatusOr<std::vector<store::NetworkRecord>> networks = repo_.List();
  if (!networks.ok()) return networks.status();
  for (const store::NetworkRecord& n : *networks) own_bridges.insert(n.bridge);
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
  if (!addresses.ok()) return addresses.status();
  for (const std::string& entry : *addresses) {
    size_t colon = entry.find(':');
    std::string link = entry.substr(0, colon);
    std::string address = entry.substr(colon + 1);
    if (own_bridges.contains(link) || address.find(':') != std::string::npos) continue;
    size_t slash = address.find('/');
    absl::StatusOr<uint32_t> ip = network::ParseIpv4(address.substr(0, slash));
    if (!ip.ok()) continue;
    int prefix = 32;
    if (slash != std::string::npos && !absl::SimpleAtoi(address.substr(slash + 1), &prefix)) {
      continue;
    }
    // Two prefixes overlap when they agree on the bits of the shorter one.
    int shorter = std::min(prefix, subnet->prefix_length());
    uint32_t common = shorter <= 0 ? 0 : ~uint32_t{0} << (32 - shorter);
    if ((*ip & common) == (subnet->network() & common)) {
      return absl::FailedPreconditionError(absl::StrCat("subnet ", subnet->ToString(),
                                                        " overlaps address ", address, " of ", link,
                                                        " on this host"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<NetworkAttachment> NetworkManager::Prepare(const std::string& container_id,
                                                          const std::string& mode,
                                                          const std::vector<std::string>& publish,
                                                          int user_ns_fd) {
  NetworkAttachment out;
  for (const std::string& spec : publish) {
    absl::StatusOr<PortMapping> m = network::ParsePortSpec(spec);
    if (!m.ok()) return m.status();
    for (const PortMapping& other : out.ports) {
      if (absl::Status s = network::CheckPublishedConflict({other}, *m); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("-p \"", spec, "\" is given twice"));
      }
    }
    out.ports.push_back(*m);
  }
  bool bridged =
      mode.empty() || (mode != "none" && mode != "host" && !absl::StartsWith(mode, "container:") &&
                       !absl::StartsWith(mode, "cni:"));
  if (!bridged && !out.ports.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ports can only be published on a bridge network, not with --network ", mode));
  }
  if (mode == "host") {
    out.mode = "host";
    return out;
  }
  if (absl::StartsWith(mode, "container:")) {
    std::string other = mode.substr(strlen("container:"));
    out.mode = "container";
    out.netns_path = NetnsPath(other);
    if (other.empty() || !network::IsNetnsMount(out.netns_path)) {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", other.substr(0, 12), " has no network namespace to share"));
    }
    return out;
  }

  absl::MutexLock lock(&mu_);
  out.netns_path = NetnsPath(container_id);
  bool prepared = network::IsNetnsMount(out.netns_path);
  if (absl::StartsWith(mode, "cni:"))
    return PrepareCniLocked(container_id, mode, prepared, user_ns_fd);
  if (mode == "none") {
    out.mode = "none";
    if (prepared) return out;
    absl::Status s = network::CreateNetns(out.netns_path, user_ns_fd);
    if (!s.ok()) return s;
    return out;
  }
  out.mode = mode.empty() || mode == "bridge" ? "bridge" : "network";
  out.network = mode.empty() || mode == "bridge" ? options_.default_network : mode;
  absl::StatusOr<store::NetworkRecord> net = repo_.Get(out.network);
  if (!net.ok()) return net.status();
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(net->subnet);
  if (!subnet.ok()) return subnet.status();

  out.prefix_length = subnet->prefix_length();
  if (!net->internal) out.gateway = net->gateway;
  if (prepared) {
    // Prepared already (a restart of the container): report what it has.
    absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
    if (!mine.ok()) return mine.status();
    for (const store::IpAllocation& a : *mine) {
      if (a.network == out.network) out.address = a.address;
    }
    if (absl::Status s = FillConnected(*mine, &out); !s.ok()) return s;
    absl::StatusOr<std::vector<store::PublishedPortRecord>> ports = repo_.Ports(container_id);
    if (!ports.ok()) return ports.status();
    out.ports.clear();
    for (const store::PublishedPortRecord& p : *ports) out.ports.push_back(FromRecord(p));
    if (!out.address.empty()) return out;
  }
  // Whatever is left of an earlier attempt (a namespace gone with /run after a reboot, rows
  // without a namespace) is released, so the container starts afresh; the networks it joined
  // later (Connect) are joined again below.
  std::vector<store::IpAllocation> connected;
  if (absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
      mine.ok()) {
    for (const store::IpAllocation& a : *mine) {
      if (a.iface > 0) connected.push_back(a);
    }
  }
  if (absl::Status s = ReleaseLocked(container_id); !s.ok()) return s;
  absl::Cleanup rollback = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    (void)ReleaseLocked(container_id);
  };
  absl::StatusOr<std::string> address = repo_.Allocate(out.network, container_id);
  if (!address.ok()) return address.status();
  out.address = *address;

  std::vector<linux::UniqueFd> held;
  std::vector<store::PublishedPortRecord> records;
  for (PortMapping& m : out.ports) {
    absl::StatusOr<std::vector<store::PublishedPortRecord>> published = repo_.Ports();
    if (!published.ok()) return published.status();
    std::vector<PortMapping> taken;
    for (const store::PublishedPortRecord& p : *published) taken.push_back(FromRecord(p));
    if (absl::Status s = network::CheckPublishedConflict(taken, m); !s.ok()) return s;
    absl::StatusOr<linux::UniqueFd> fd = network::ReserveHostPort(&m);
    if (!fd.ok()) return fd.status();
    held.push_back(*std::move(fd));
    records.push_back(ToRecord(container_id, out.network, m));
  }
  if (absl::Status s = repo_.AddPorts(records); !s.ok()) return s;
  if (absl::Status s = network::CreateNetns(out.netns_path, user_ns_fd); !s.ok()) return s;
  if (absl::Status s = AttachBridge(container_id, *net, out.address, out.netns_path); !s.ok()) {
    return Annotate(s, absl::StrCat("network \"", out.network, "\""));
  }
  for (const store::IpAllocation& a : connected) {
    absl::StatusOr<ConnectedNetwork> c = ConnectLocked(container_id, a.network, a.iface);
    if (!c.ok()) return c.status();
    out.connected.push_back(*std::move(c));
  }
  // The table covers every network from its creation on (CreateNetwork, Reconcile): it changes
  // with published ports only. (A rebuild costs ~13 ms, a fifth of a bridged start.)
  if (!records.empty()) {
    if (absl::Status s = ApplyNftLocked(); !s.ok()) return s;
  }
  if (options_.enable_ip_forward && !net->internal) {
    if (absl::Status s = network::EnableIpv4Forwarding(); !s.ok()) return s;
  }
  std::move(rollback).Cancel();
  reservations_[container_id] = std::move(held);
  out.fresh = true;
  return out;
}

network::CniOptions NetworkManager::CniOptionsOf() const {
  network::CniOptions o;
  o.conf_dir = options_.cni_config_dir;
  o.plugin_dirs = options_.cni_plugin_dirs;
  o.cache_dir = options_.cni_cache_dir.empty() ? absl::StrCat(options_.netns_dir, "/../cni")
                                               : options_.cni_cache_dir;
  return o;
}

absl::StatusOr<NetworkAttachment> NetworkManager::PrepareCniLocked(const std::string& container_id,
                                                                   const std::string& mode,
                                                                   bool prepared, int user_ns_fd) {
  NetworkAttachment out;
  out.mode = "cni";
  out.network = CniNetworkOf(mode);
  out.netns_path = NetnsPath(container_id);
  if (out.network.empty()) {
    return absl::InvalidArgumentError("--network cni:NAME: the CNI network name is missing");
  }
  const network::CniOptions cni = CniOptionsOf();
  if (prepared) {
    // A start of a container whose namespace is still there: the plugins CHECK what they set up;
    // when something was lost (CHECK fails), the attachment is made again below.
    absl::StatusOr<network::CniResult> cached =
        network::CniCachedResult(cni, out.network, container_id, "eth0");
    if (cached.ok() &&
        network::CniCheck(cni, out.network, container_id, out.netns_path, "eth0").ok()) {
      out.address = cached->address;
      out.prefix_length = cached->prefix_length;
      out.gateway = cached->gateway;
      return out;
    }
    if (!cached.ok() && !absl::IsNotFound(cached.status()) && !absl::IsDataLoss(cached.status())) {
      return cached.status();
    }
  }
  // The list is looked up before anything is made: an unknown name leaves nothing behind.
  if (absl::StatusOr<network::CniNetworkList> list =
          network::LoadNetworkList(cni.conf_dir, out.network);
      !list.ok()) {
    return list.status();
  }
  if (absl::Status s = ReleaseLocked(container_id); !s.ok()) return s;
  if (absl::Status s = network::CreateNetns(out.netns_path, user_ns_fd); !s.ok()) return s;
  absl::StatusOr<network::CniResult> added =
      network::CniAdd(cni, out.network, container_id, out.netns_path, "eth0");
  if (!added.ok()) {
    (void)network::RemoveNetns(out.netns_path);
    return added.status();
  }
  out.address = added->address;
  out.prefix_length = added->prefix_length;
  out.gateway = added->gateway;
  return out;
}

std::vector<std::pair<std::string, std::string>> NetworkManager::CniAttachments() const {
  // <cache_dir>/<network>-<64 hex digits of the id>.json
  std::vector<std::pair<std::string, std::string>> out;
  constexpr size_t kIdLength = 64;
  for (const std::string& file : ListDir(CniOptionsOf().cache_dir)) {
    if (!absl::EndsWith(file, ".json")) continue;
    std::string stem = file.substr(0, file.size() - strlen(".json"));
    if (stem.size() < kIdLength + 2 || stem[stem.size() - kIdLength - 1] != '-') continue;
    out.push_back(
        {stem.substr(0, stem.size() - kIdLength - 1), stem.substr(stem.size() - kIdLength)});
  }
  return out;
}

absl::StatusOr<NetworkAttachment> NetworkManager::Describe(const std::string& container_id,
                                                           const std::string& mode) {
  NetworkAttachment out;
  if (absl::StartsWith(mode, "cni:")) {
    out.mode = "cni";
    out.network = CniNetworkOf(mode);
    out.netns_path = NetnsPath(container_id);
    absl::StatusOr<network::CniResult> cached =
        network::CniCachedResult(CniOptionsOf(), out.network, container_id, "eth0");
    if (cached.ok()) {
      out.address = cached->address;
      out.prefix_length = cached->prefix_length;
      out.gateway = cached->gateway;
    }
    return out;
  }
  if (mode == "host" || mode == "none") {
    out.mode = mode;
    if (mode == "none") out.netns_path = NetnsPath(container_id);
    return out;
  }
  if (absl::StartsWith(mode, "container:")) {
    out.mode = "container";
    out.netns_path = NetnsPath(mode.substr(strlen("container:")));
    return out;
  }
  out.mode = mode.empty() || mode == "bridge" ? "bridge" : "network";
  out.network = mode.empty() || mode == "bridge" ? options_.default_network : mode;
  out.netns_path = NetnsPath(container_id);
  absl::StatusOr<store::NetworkRecord> net = repo_.Get(out.network);
  if (!net.ok()) return net.status();
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(net->subnet);
  if (!subnet.ok()) return subnet.status();
  out.prefix_length = subnet->prefix_length();
  if (!net->internal) out.gateway = net->gateway;
  absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
  if (!mine.ok()) return mine.status();
  for (const store::IpAllocation& a : *mine) {
    if (a.network == out.network) out.address = a.address;
  }
  if (absl::Status s = FillConnected(*mine, &out); !s.ok()) return s;
  absl::StatusOr<std::vector<store::PublishedPortRecord>> ports = repo_.Ports(container_id);
  if (!ports.ok()) return ports.status();
  for (const store::PublishedPortRecord& p : *ports) out.ports.push_back(FromRecord(p));
  return out;
}

absl::Status NetworkManager::FillConnected(const std::vector<store::IpAllocation>& allocations,
                                           NetworkAttachment* out) {
  std::vector<store::IpAllocation> later;
  for (const store::IpAllocation& a : allocations) {
    if (a.iface > 0) later.push_back(a);
  }
  std::sort(
      later.begin(), later.end(),
      [](const store::IpAllocation& a, const store::IpAllocation& b) { return a.iface < b.iface; });
  for (const store::IpAllocation& a : later) {
    absl::StatusOr<store::NetworkRecord> net = repo_.Get(a.network);
    if (!net.ok()) return net.status();
    absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(net->subnet);
    if (!subnet.ok()) return subnet.status();
    out->connected.push_back(
        {a.network, a.address, subnet->prefix_length(), absl::StrCat("eth", a.iface)});
  }
  return absl::OkStatus();
}

absl::StatusOr<ConnectedNetwork> NetworkManager::Connect(const std::string& container_id,
                                                         const std::string& name) {
  absl::MutexLock lock(&mu_);
  const std::string netns_path = NetnsPath(container_id);
  if (!network::IsNetnsMount(netns_path)) {
    return absl::FailedPreconditionError(absl::StrCat("container ", container_id.substr(0, 12),
                                                      " has no network namespace of its own"));
  }
  absl::StatusOr<store::NetworkRecord> net = repo_.Get(name);
  if (!net.ok()) return net.status();
  absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
  if (!mine.ok()) return mine.status();
  std::set<int> taken;
  for (const store::IpAllocation& a : *mine) {
    if (a.network == name) {
      return absl::AlreadyExistsError(absl::StrCat("container ", container_id.substr(0, 12),
                                                   " is already on network \"", name, "\""));
    }
    taken.insert(a.iface);
  }
  int iface = 1;
  while (taken.contains(iface)) ++iface;
  if (iface > kMaxInterface) {
    return absl::ResourceExhaustedError(absl::StrCat("container ", container_id.substr(0, 12),
                                                     " is on ", kMaxInterface + 1,
                                                     " networks already, the most it can be on"));
  }
  return ConnectLocked(container_id, name, iface);
}

absl::StatusOr<ConnectedNetwork> NetworkManager::ConnectLocked(const std::string& container_id,
                                                               const std::string& name, int iface) {
  absl::StatusOr<store::NetworkRecord> net = repo_.Get(name);
  if (!net.ok()) return net.status();
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(net->subnet);
  if (!subnet.ok()) return subnet.status();
  absl::StatusOr<std::string> address = repo_.Allocate(name, container_id, iface);
  if (!address.ok()) return address.status();
  absl::Status s = AttachBridge(container_id, *net, *address, NetnsPath(container_id), iface);
  if (s.ok() && options_.enable_ip_forward && !net->internal) {
    s = network::EnableIpv4Forwarding();
  }
  if (!s.ok()) {
    if (absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open(); sock.ok()) {
      (void)sock->DeleteLink(VethName(container_id, iface));
      (void)sock->DeleteLink(PeerName(container_id, iface));
    }
    (void)repo_.Release(name, container_id);
    return Annotate(s, absl::StrCat("network \"", name, "\""));
  }
  return ConnectedNetwork{name, *address, subnet->prefix_length(), absl::StrCat("eth", iface)};
}

absl::Status NetworkManager::Disconnect(const std::string& container_id, const std::string& name) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
  if (!mine.ok()) return mine.status();
  auto it = std::find_if(mine->begin(), mine->end(),
                         [&](const store::IpAllocation& a) { return a.network == name; });
  if (it == mine->end()) {
    if (absl::StatusOr<store::NetworkRecord> net = repo_.Get(name); !net.ok()) {
      return net.status();
    }
    return absl::NotFoundError(absl::StrCat("container ", container_id.substr(0, 12),
                                            " is not on network \"", name, "\""));
  }
  if (it->iface == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("network \"", name, "\" is the one container ", container_id.substr(0, 12),
                     " was created on; only networks joined with connect can be left"));
  }
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  // The host end goes, and the kernel takes the peer (ethN in the namespace) with it.
  absl::Status s = sock->DeleteLink(VethName(container_id, it->iface));
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  return repo_.Release(name, container_id);
}

absl::Status NetworkManager::AttachBridge(const std::string& container_id,
                                          const store::NetworkRecord& net,
                                          const std::string& address, const std::string& netns_path,
                                          int iface) {
  absl::StatusOr<Ipv4Subnet> subnet = Ipv4Subnet::Parse(net.subnet);
  if (!subnet.ok()) return subnet.status();
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  absl::Status s = sock->EnsureBridge(
      {net.bridge, options_.mtu, absl::StrCat(net.gateway, "/", subnet->prefix_length())});
  if (!s.ok()) return s;
  // Published ports on 127.0.0.1 are DNATed out through the bridge (runtime/network/nft.h).
  if (s = network::EnableRouteLocalnet(net.bridge); !s.ok()) return s;
  std::string veth = VethName(container_id, iface);
  std::string peer = PeerName(container_id, iface);
  const std::string inside = absl::StrCat("eth", iface);
  if (s = sock->CreateVethPair(veth, peer, options_.mtu); !s.ok()) return s;
  absl::StatusOr<linux::UniqueFd> ns = network::OpenNetns(netns_path);
  if (!ns.ok()) return ns.status();
  if (s = sock->MoveToNetns(peer, ns->get()); !s.ok()) return s;
  if (s = sock->AttachToBridge(veth, net.bridge); !s.ok()) return s;
  if (s = sock->SetUp(veth); !s.ok()) return s;
  std::string with_prefix = absl::StrCat(address, "/", subnet->prefix_length());
  return network::RunInNetns(netns_path, [&]() -> absl::Status {
    absl::StatusOr<network::RouteSocket> inner = network::RouteSocket::Open();
    if (!inner.ok()) return inner.status();
    if (absl::Status st = inner->Rename(peer, inside); !st.ok()) return st;
    if (absl::Status st = inner->AddAddress(inside, with_prefix); !st.ok()) return st;
    if (absl::Status st = inner->SetUp(inside); !st.ok()) return st;
    // An internal network has no route out: only its own subnet is reachable. A network joined
    // later reaches its own subnet only; the default route stays with eth0.
    if (net.internal || iface > 0) return absl::OkStatus();
    return inner->AddDefaultRoute(inside, net.gateway);
  });
}

absl::Status NetworkManager::Release(const std::string& container_id) {
  absl::MutexLock lock(&mu_);
  return ReleaseLocked(container_id);
}

absl::Status NetworkManager::ReleaseLocked(const std::string& container_id) {
  absl::Status result;
  reservations_.erase(container_id);
  std::set<int> ifaces = {0};
  if (absl::StatusOr<std::vector<store::IpAllocation>> mine = repo_.AllocationsOf(container_id);
      mine.ok()) {
    for (const store::IpAllocation& a : *mine) ifaces.insert(a.iface);
  }
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (sock.ok()) {
    for (int iface : ifaces) {
      absl::Status s = sock->DeleteLink(VethName(container_id, iface));
      if (!absl::IsNotFound(s)) result.Update(s);
      s = sock->DeleteLink(PeerName(container_id, iface));
      if (!absl::IsNotFound(s)) result.Update(s);
    }
  } else {
    result.Update(sock.status());
  }
  // CNI attachments: DEL while the namespace still exists, as the plugins expect.
  for (const auto& [network_name, id] : CniAttachments()) {
    if (id != container_id) continue;
    result.Update(
        network::CniDel(CniOptionsOf(), network_name, id, NetnsPath(container_id), "eth0"));
  }
  result.Update(network::RemoveNetns(NetnsPath(container_id)));
  absl::StatusOr<std::vector<store::PublishedPortRecord>> ports = repo_.Ports(container_id);
  bool had_ports = !ports.ok() || !ports->empty();
  result.Update(repo_.ReleaseAll(container_id));
  if (had_ports) result.Update(ApplyNftLocked());
  return Annotate(result, absl::StrCat("release network of ", container_id.substr(0, 12)));
}

absl::Status NetworkManager::ApplyNftLocked() {
  network::NatState state;
  absl::StatusOr<std::vector<store::NetworkRecord>> networks = repo_.List();
  if (!networks.ok()) return networks.status();
  std::map<std::string, std::string> bridge_of;
  for (const store::NetworkRecord& n : *networks) {
    state.networks.push_back({n.bridge, n.subnet, n.internal});
    bridge_of[n.name] = n.bridge;
  }
  absl::StatusOr<std::vector<store::IpAllocation>> allocations = repo_.Allocations();
  if (!allocations.ok()) return allocations.status();
  std::map<std::pair<std::string, std::string>, std::string> address_of;
  for (const store::IpAllocation& a : *allocations) {
    address_of[{a.network, a.container_id}] = a.address;
  }
  absl::StatusOr<std::vector<store::PublishedPortRecord>> ports = repo_.Ports();
  if (!ports.ok()) return ports.status();
  for (const store::PublishedPortRecord& p : *ports) {
    auto address = address_of.find({p.network, p.container_id});
    if (address == address_of.end()) continue;
    state.ports.push_back({FromRecord(p), address->second, bridge_of[p.network]});
  }
  absl::StatusOr<network::Nftables> nft = network::Nftables::Create();
  if (!nft.ok()) return nft.status();
  return nft->Apply(options_.nft_table, state);
}

absl::Status NetworkManager::Reconcile(const std::vector<std::string>& known_ids) {
  absl::MutexLock lock(&mu_);
  std::set<std::string> known(known_ids.begin(), known_ids.end());
  absl::Status result;
  std::set<std::string> stale;
  for (const std::string& name : ListDir(options_.netns_dir)) {
    if (!known.contains(name)) stale.insert(name);
  }
  absl::StatusOr<std::vector<store::IpAllocation>> allocations = repo_.Allocations();
  if (allocations.ok()) {
    for (const store::IpAllocation& a : *allocations) {
      if (!known.contains(a.container_id)) stale.insert(a.container_id);
    }
  } else {
    result.Update(allocations.status());
  }
  absl::StatusOr<std::vector<store::PublishedPortRecord>> ports = repo_.Ports();
  if (ports.ok()) {
    for (const store::PublishedPortRecord& p : *ports) {
      if (!known.contains(p.container_id)) stale.insert(p.container_id);
    }
  } else {
    result.Update(ports.status());
  }
  for (const auto& [unused, id] : CniAttachments()) {
    if (!known.contains(id)) stale.insert(id);
  }
  for (const std::string& id : stale) result.Update(ReleaseLocked(id));

  // Host ends (and never-moved peers) of veths whose container is gone.
  std::set<std::string> wanted_links;
  for (const std::string& id : known) wanted_links.insert(VethName(id));
  if (allocations = repo_.Allocations(); allocations.ok()) {
    for (const store::IpAllocation& a : *allocations) {
      if (known.contains(a.container_id)) wanted_links.insert(VethName(a.container_id, a.iface));
    }
  }
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (sock.ok()) {
    absl::StatusOr<std::vector<network::LinkInfo>> links = sock->ListLinks();
    if (links.ok()) {
      for (const network::LinkInfo& l : *links) {
        if (l.type == "veth" && absl::StartsWith(l.name, options_.veth_prefix) &&
            !wanted_links.contains(l.name)) {
          absl::Status s = sock->DeleteLink(l.name);
          if (!absl::IsNotFound(s)) result.Update(s);
        }
      }
    } else {
      result.Update(links.status());
    }
  } else {
    result.Update(sock.status());
  }

  // The daemon restarted: hold the published host ports of the surviving containers again.
  ports = repo_.Ports();
  if (ports.ok()) {
    for (const store::PublishedPortRecord& p : *ports) {
      if (reservations_.contains(p.container_id) && !reservations_[p.container_id].empty()) {
        continue;
      }
      PortMapping m = FromRecord(p);
      absl::StatusOr<linux::UniqueFd> fd = network::ReserveHostPort(&m);
      if (fd.ok()) {
        reservations_[p.container_id].push_back(*std::move(fd));
      } else {
        result.Update(
            Annotate(fd.status(), absl::StrCat("container ", p.container_id.substr(0, 12))));
      }
    }
  }
  result.Update(ApplyNftLocked());
  return Annotate(result, "reconcile networks");
}

absl::StatusOr<store::NetworkRecord> NetworkManager::CreateNetwork(const std::string& name,
                                                                   const std::string& subnet,
                                                                   bool internal) {
  bool ok = !name.empty() && name.size() <= 64 && absl::ascii_isalnum(name[0]);
  for (char c : name) ok = ok && (absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-');
  if (!ok || name == "none" || name == "host" || name == "bridge" || name == "default") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid network name \"", name,
                     "\": letters, digits, '_', '.', '-'; not none/host/bridge"));
  }
  if (subnet.empty()) {
    return absl::InvalidArgumentError("a network needs --subnet (e.g. 10.213.1.0/24)");
  }
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CheckHostOverlap(subnet); !s.ok()) return s;
  store::NetworkRecord n;
  n.name = name;
  n.subnet = subnet;
  n.internal = internal;
  n.bridge = absl::StrCat(options_.bridge_prefix, absl::StrFormat("%012x", Fnv1a(name) >> 16))
                 .substr(0, 15);
  if (absl::Status s = repo_.Create(n); !s.ok()) return s;
  // Its masquerade and isolation rules, before a container can use it.
  if (absl::Status s = ApplyNftLocked(); !s.ok()) {
    (void)repo_.Remove(name);
    (void)ApplyNftLocked();
    return s;
  }
  return n;
}

absl::Status NetworkManager::RemoveNetwork(const std::string& name) {
  if (name == options_.default_network) {
    return absl::FailedPreconditionError(
        absl::StrCat("network \"", name, "\" is the default network and cannot be removed"));
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<store::NetworkRecord> n = repo_.Get(name);
  if (!n.ok()) return n.status();
  if (absl::Status s = repo_.Remove(name); !s.ok()) return s;
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  absl::Status s = sock->DeleteLink(n->bridge);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  return ApplyNftLocked();
}

}  // namespace kapsel::daemon
