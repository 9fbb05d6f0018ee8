#include "runtime/network/netlink.h"

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kapsel::network {
namespace {

// libnl objects are reference-counted; these owners drop one reference.
struct LinkPut {
  void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrPut {
  void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
struct RtnlAddrPut {
  void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct RoutePut {
  void operator()(rtnl_route* route) const { rtnl_route_put(route); }
};
struct CacheFree {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
using RtnlAddrPtr = std::unique_ptr<rtnl_addr, RtnlAddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

// libnl returns -NLE_* codes, not errno; keep its message and map the codes callers branch on.
absl::Status NlStatus(int err, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", nl_geterror(err));
  switch (err < 0 ? -err : err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::NotFoundError(message);
    case NLE_EXIST:
      return absl::AlreadyExistsError(message);
    case NLE_PERM:
    case NLE_NOACCESS:
      return absl::PermissionDeniedError(message);
    case NLE_INVAL:
    case NLE_RANGE:
      return absl::InvalidArgumentError(message);
    case NLE_BUSY:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status CheckName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid interface name \"", name, "\": 1 to 15 bytes, no '/'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<AddrPtr> ParseAddr(const std::string& text, int family) {
  nl_addr* addr = nullptr;
  int err = nl_addr_parse(text.c_str(), family, &addr);
  if (err < 0) return NlStatus(err, absl::StrCat("parse address ", text));
  return AddrPtr(addr);
}

LinkInfo ToLinkInfo(rtnl_link* link) {
  LinkInfo info;
  const char* name = rtnl_link_get_name(link);
  info.name = name != nullptr ? name : "";
  info.index = rtnl_link_get_ifindex(link);
  const char* type = rtnl_link_get_type(link);
  info.type = type != nullptr ? type : "";
  info.master = rtnl_link_get_master(link);
  info.mtu = static_cast<int>(rtnl_link_get_mtu(link));
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  return info;
}

}  // namespace

void RouteSocket::SockDeleter::operator()(nl_sock* sock) const { nl_socket_free(sock); }

RouteSocket::~RouteSocket() = default;

absl::StatusOr<RouteSocket> RouteSocket::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return absl::ResourceExhaustedError("nl_socket_alloc: out of memory");
  RouteSocket out(sock);
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err < 0) return NlStatus(err, "connect NETLINK_ROUTE");
  return out;
}

namespace {

absl::StatusOr<LinkPtr> GetKernelLink(nl_sock* sock, const std::string& name) {
  if (absl::Status status = CheckName(name); !status.ok()) return status;
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link);
  if (err < 0) return NlStatus(err, absl::StrCat("get link ", name));
  return LinkPtr(link);
}

// Applies `change` to the kernel link `name`.
absl::Status ChangeLink(nl_sock* sock, const std::string& name, rtnl_link* change,
                        absl::string_view what) {
  absl::StatusOr<LinkPtr> link = GetKernelLink(sock, name);
  if (!link.ok()) return link.status();
  int err = rtnl_link_change(sock, link->get(), change, 0);
  if (err < 0) return NlStatus(err, absl::StrCat(what, " ", name));
  return absl::OkStatus();
}

}  // namespace

absl::Status RouteSocket::EnsureBridge(const BridgeConfig& config) {
  if (absl::Status status = CheckName(config.name); !status.ok()) return status;
  LinkPtr wanted(rtnl_link_alloc());
  if (!wanted) return absl::ResourceExhaustedError("rtnl_link_alloc: out of memory");
  int err = rtnl_link_set_type(wanted.get(), "bridge");
  if (err < 0) return NlStatus(err, "set link type bridge");
  rtnl_link_set_name(wanted.get(), config.name.c_str());
  rtnl_link_set_mtu(wanted.get(), static_cast<unsigned>(config.mtu));
  err = rtnl_link_add(sock_.get(), wanted.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0 && err != -NLE_EXIST) {
    return NlStatus(err, absl::StrCat("create bridge ", config.name));
  }
  absl::StatusOr<LinkPtr> link = GetKernelLink(sock_.get(), config.name);
  if (!link.ok()) return link.status();
  const char* type = rtnl_link_get_type(link->get());
  if (type == nullptr || std::string(type) != "bridge") {
    return absl::FailedPreconditionError(absl::StrCat(
        "link ", config.name, " exists and is not a bridge (type ", type ? type : "none", ")"));
  }
  if (static_cast<int>(rtnl_link_get_mtu(link->get())) != config.mtu) {
    LinkPtr change(rtnl_link_alloc());
    rtnl_link_set_mtu(change.get(), static_cast<unsigned>(config.mtu));
    if (absl::Status s = ChangeLink(sock_.get(), config.name, change.get(), "set mtu"); !s.ok()) {
      return s;
    }
  }
  if (!config.address.empty()) {
    if (absl::Status s = AddAddress(config.name, config.address); !s.ok()) return s;
  }
  return SetUp(config.name);
}

absl::Status RouteSocket::CreateVethPair(const std::string& name, const std::string& peer_name,
                                         int mtu) {
  if (absl::Status status = CheckName(name); !status.ok()) return status;
  if (absl::Status status = CheckName(peer_name); !status.ok()) return status;
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return absl::ResourceExhaustedError("rtnl_link_veth_alloc: out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
  // get_peer takes a reference; the pair's own reference frees the peer with `link`.
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(peer.get(), peer_name.c_str());
  rtnl_link_set_mtu(peer.get(), static_cast<unsigned>(mtu));
  int err = rtnl_link_add(sock_.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return NlStatus(err, absl::StrCat("create veth ", name, " peer ", peer_name));
  return absl::OkStatus();
}

absl::Status RouteSocket::MoveToNetns(const std::string& name, int netns_fd) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_ns_fd(change.get(), netns_fd);
  return ChangeLink(sock_.get(), name, change.get(), "move to network namespace");
}

absl::Status RouteSocket::Rename(const std::string& name, const std::string& new_name) {
  if (absl::Status status = CheckName(new_name); !status.ok()) return status;
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_name(change.get(), new_name.c_str());
  return ChangeLink(sock_.get(), name, change.get(), absl::StrCat("rename to ", new_name));
}

absl::Status RouteSocket::AttachToBridge(const std::string& name, const std::string& bridge) {
  absl::StatusOr<LinkPtr> master = GetKernelLink(sock_.get(), bridge);
  if (!master.ok()) return master.status();
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_master(change.get(), rtnl_link_get_ifindex(master->get()));
  return ChangeLink(sock_.get(), name, change.get(), absl::StrCat("attach to bridge ", bridge));
}

absl::Status RouteSocket::SetUp(const std::string& name) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  return ChangeLink(sock_.get(), name, change.get(), "set up");
}

absl::Status RouteSocket::AddAddress(const std::string& name, const std::string& address) {
  absl::StatusOr<LinkPtr> link = GetKernelLink(sock_.get(), name);
  if (!link.ok()) return link.status();
  absl::StatusOr<AddrPtr> local = ParseAddr(address, AF_INET);
  if (!local.ok()) return local.status();
  RtnlAddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), rtnl_link_get_ifindex(link->get()));
  int err = rtnl_addr_set_local(addr.get(), local->get());
  if (err < 0) return NlStatus(err, absl::StrCat("set address ", address));
  err = rtnl_addr_add(sock_.get(), addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) {
    return NlStatus(err, absl::StrCat("add address ", address, " to ", name));
  }
  return absl::OkStatus();
}

absl::Status RouteSocket::AddDefaultRoute(const std::string& name, const std::string& gateway) {
  absl::StatusOr<LinkPtr> link = GetKernelLink(sock_.get(), name);
  if (!link.ok()) return link.status();
  absl::StatusOr<AddrPtr> dst = ParseAddr("0.0.0.0/0", AF_INET);
  if (!dst.ok()) return dst.status();
  absl::StatusOr<AddrPtr> via = ParseAddr(gateway, AF_INET);
  if (!via.ok()) return via.status();
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  int err = rtnl_route_set_dst(route.get(), dst->get());
  if (err < 0) return NlStatus(err, "set route destination");
  rtnl_nexthop* nexthop = rtnl_route_nh_alloc();
  if (nexthop == nullptr) return absl::ResourceExhaustedError("rtnl_route_nh_alloc: out of memory");
  rtnl_route_nh_set_ifindex(nexthop, rtnl_link_get_ifindex(link->get()));
  rtnl_route_nh_set_gateway(nexthop, via->get());
  rtnl_route_add_nexthop(route.get(), nexthop);  // the route owns it from here
  err = rtnl_route_add(sock_.get(), route.get(), NLM_F_EXCL);
  if (err < 0) {
    return NlStatus(err, absl::StrCat("add default route via ", gateway, " dev ", name));
  }
  return absl::OkStatus();
}

absl::Status RouteSocket::DeleteLink(const std::string& name) {
  if (absl::Status status = CheckName(name); !status.ok()) return status;
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(sock_.get(), link.get());
  if (err < 0) return NlStatus(err, absl::StrCat("delete link ", name));
  return absl::OkStatus();
}

absl::StatusOr<LinkInfo> RouteSocket::GetLink(const std::string& name) {
  absl::StatusOr<LinkPtr> link = GetKernelLink(sock_.get(), name);
  if (!link.ok()) return link.status();
  return ToLinkInfo(link->get());
}

absl::StatusOr<std::vector<LinkInfo>> RouteSocket::ListLinks() {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw);
  if (err < 0) return NlStatus(err, "list links");
  CachePtr cache(raw);
  std::vector<LinkInfo> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    out.push_back(ToLinkInfo(reinterpret_cast<rtnl_link*>(obj)));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> RouteSocket::ListAddresses() {
  nl_cache* raw_links = nullptr;
  int err = rtnl_link_alloc_cache(sock_.get(), AF_UNSPEC, &raw_links);
  if (err < 0) return NlStatus(err, "list links");
  CachePtr links(raw_links);
  nl_cache* raw_addrs = nullptr;
  err = rtnl_addr_alloc_cache(sock_.get(), &raw_addrs);
  if (err < 0) return NlStatus(err, "list addresses");
  CachePtr addrs(raw_addrs);
  std::vector<std::string> out;
  for (nl_object* obj = nl_cache_get_first(addrs.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    char link_name[IFNAMSIZ] = {};
    rtnl_link_i2name(links.get(), rtnl_addr_get_ifindex(addr), link_name, sizeof(link_name));
    char text[128] = {};
    nl_addr* local = rtnl_addr_get_local(addr);
    if (local != nullptr) nl_addr2str(local, text, sizeof(text));
    out.push_back(absl::StrCat(link_name, ":", text));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kapsel::network
