// Networking on the real kernel (issue 7): network namespaces, a bridge and a veth pair through
// rtnetlink, and a DNAT from 127.0.0.1 through libnftables. Needs root. Every name carries the
// test's pid (bridge kt<pid>, table kapsel_test_<pid>) and everything is torn down by RAII even
// when an assertion fails; no host interface or nft table other than those is touched, and all
// traffic goes to loopback or to the test's own namespace.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/ipam.h"
#include "runtime/network/netlink.h"
#include "runtime/network/netns.h"
#include "runtime/network/nft.h"
#include "runtime/network/port_reservation.h"
#include "tests/integration/mountinfo.h"

namespace kapsel::network {
namespace {

using ::kapsel::test_support::MountsUnder;

using linux::UniqueFd;
using ::testing::ElementsAre;

// What the host looks like, for the leftovers check.
struct HostSnapshot {
  std::vector<std::string> links;      // "name type"
  std::vector<std::string> addresses;  // "link:address/prefix"
  std::string nft_tables;              // `list tables`
  std::vector<std::string> netns_mounts;

  friend bool operator==(const HostSnapshot&, const HostSnapshot&) = default;
};

absl::StatusOr<HostSnapshot> Snapshot(const std::string& netns_dir) {
  HostSnapshot s;
  absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  absl::StatusOr<std::vector<LinkInfo>> links = sock->ListLinks();
  if (!links.ok()) return links.status();
  for (const LinkInfo& l : *links) s.links.push_back(absl::StrCat(l.name, " ", l.type));
  absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
  if (!addresses.ok()) return addresses.status();
  s.addresses = *addresses;
  absl::StatusOr<Nftables> nft = Nftables::Create();
  if (!nft.ok()) return nft.status();
  absl::StatusOr<std::string> tables = nft->Run("list tables");
  if (!tables.ok()) return tables.status();
  s.nft_tables = *tables;
  s.netns_mounts = MountsUnder(netns_dir);
  return s;
}

// A TCP connection to ip:port, or an error after `timeout_ms`.
absl::StatusOr<UniqueFd> ConnectTcp(const std::string& ip, uint16_t port, int timeout_ms = 5000) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return absl::ErrnoToStatus(errno, "socket");
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 &&
      errno != EINPROGRESS) {
    return absl::ErrnoToStatus(errno, absl::StrCat("connect ", ip, ":", port));
  }
  struct pollfd pfd = {fd.get(), POLLOUT, 0};
  int n = poll(&pfd, 1, timeout_ms);
  if (n == 0) return absl::DeadlineExceededError(absl::StrCat("connect ", ip, ":", port));
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return absl::ErrnoToStatus(err, absl::StrCat("connect ", ip, ":", port));
  return fd;
}

// Accepts one connection within `timeout_ms` and returns the peer's address.
absl::StatusOr<std::string> AcceptPeer(int listener, int timeout_ms = 5000) {
  struct pollfd pfd = {listener, POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) != 1) return absl::DeadlineExceededError("accept");
  struct sockaddr_in peer = {};
  socklen_t len = sizeof(peer);
  UniqueFd conn(accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (!conn) return absl::ErrnoToStatus(errno, "accept");
  return FormatIpv4(ntohl(peer.sin_addr.s_addr));
}

// One test network: a netns with eth0 on a bridge, all named after the pid. The destructor removes
// whatever was created, in reverse order, ignoring what is already gone.
class TestNet {
 public:
  TestNet() : pid_(getpid()) {
    dir_ = absl::StrCat("/run/kapsel-test-", pid_);
    netns_path_ = absl::StrCat(dir_, "/netns");
    bridge_ = absl::StrCat("kt", pid_);
    host_veth_ = absl::StrCat("ktv", pid_);
    peer_veth_ = absl::StrCat("ktp", pid_);
    table_ = absl::StrCat("kapsel_test_", pid_);
  }
  TestNet(const TestNet&) = delete;
  TestNet& operator=(const TestNet&) = delete;
  ~TestNet() { EXPECT_TRUE(TearDown().ok()); }

  // Picks 10.213.<n>.0/24 not used by any host address, from the pid.
  absl::Status ChooseSubnet() {
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
    if (!addresses.ok()) return addresses.status();
    for (int i = 0; i < 200; ++i) {
      int third = 20 + (pid_ + i) % 200;
      std::string prefix = absl::StrCat(":10.213.", third, ".");
      bool used = false;
      for (const std::string& a : *addresses) used = used || a.find(prefix) != std::string::npos;
      if (!used) {
        subnet_ = absl::StrCat("10.213.", third, ".0/24");
        gateway_ = absl::StrCat("10.213.", third, ".1");
        container_ip_ = absl::StrCat("10.213.", third, ".2");
        return absl::OkStatus();
      }
    }
    return absl::UnavailableError("no free 10.213.x.0/24 on this host");
  }

  absl::Status SetUp() {
    if (absl::Status s = ChooseSubnet(); !s.ok()) return s;
    if (mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir_));
    }
    if (absl::Status s = CreateNetns(netns_path_); !s.ok()) return s;
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    BridgeConfig bridge{bridge_, 1500, absl::StrCat(gateway_, "/24")};
    if (absl::Status s = sock->EnsureBridge(bridge); !s.ok()) return s;
    if (absl::Status s = sock->CreateVethPair(host_veth_, peer_veth_, 1500); !s.ok()) return s;
    absl::StatusOr<UniqueFd> ns = OpenNetns(netns_path_);
    if (!ns.ok()) return ns.status();
    if (absl::Status s = sock->MoveToNetns(peer_veth_, ns->get()); !s.ok()) return s;
    if (absl::Status s = sock->AttachToBridge(host_veth_, bridge_); !s.ok()) return s;
    if (absl::Status s = sock->SetUp(host_veth_); !s.ok()) return s;
    return RunInNetns(netns_path_, [&]() -> absl::Status {
      absl::StatusOr<RouteSocket> inner = RouteSocket::Open();
      if (!inner.ok()) return inner.status();
      if (absl::Status s = inner->Rename(peer_veth_, "eth0"); !s.ok()) return s;
      if (absl::Status s = inner->AddAddress("eth0", absl::StrCat(container_ip_, "/24")); !s.ok()) {
        return s;
      }
      if (absl::Status s = inner->SetUp("eth0"); !s.ok()) return s;
      return inner->AddDefaultRoute("eth0", gateway_);
    });
  }

  // A TCP listener on 0.0.0.0:port inside the namespace, made by a thread that joined it; the
  // socket stays in that namespace.
  absl::StatusOr<UniqueFd> ListenInside(uint16_t port) {
    UniqueFd listener;
    absl::Status status = RunInNetns(netns_path_, [&]() -> absl::Status {
      listener.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!listener) return absl::ErrnoToStatus(errno, "socket");
      struct sockaddr_in addr = {};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
        return absl::ErrnoToStatus(errno, "bind");
      }
      if (listen(listener.get(), 8) < 0) return absl::ErrnoToStatus(errno, "listen");
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return listener;
  }

  absl::Status TearDown() {
    absl::Status result;
    absl::StatusOr<Nftables> nft = Nftables::Create();
    if (nft.ok()) result.Update(nft->DeleteTable(table_));
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    for (const std::string& link : {host_veth_, peer_veth_, bridge_}) {
      absl::Status s = sock->DeleteLink(link);
      if (!absl::IsNotFound(s)) result.Update(s);
    }
    result.Update(RemoveNetns(netns_path_));
    if (rmdir(dir_.c_str()) < 0 && errno != ENOENT) {
      result.Update(absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", dir_)));
    }
    return result;
  }

  int pid_;
  std::string dir_, netns_path_, bridge_, host_veth_, peer_veth_, table_;
  std::string subnet_, gateway_, container_ip_;
};

class NetworkIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, netlink, nftables)";
  }
};

TEST_F(NetworkIntegrationTest, NetnsHasOnlyLoopbackUpAndIsRemoved) {
  TestNet net;
  ASSERT_EQ(mkdir(net.dir_.c_str(), 0700), 0);
  ASSERT_TRUE(CreateNetns(net.netns_path_).ok());
  EXPECT_TRUE(IsNetnsMount(net.netns_path_));
  absl::Status again = CreateNetns(net.netns_path_);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_TRUE(IsNetnsMount(net.netns_path_)) << "a refused create must not undo the existing one";

  std::vector<LinkInfo> inside;
  ASSERT_TRUE(RunInNetns(net.netns_path_, [&]() -> absl::Status {
                absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
                if (!sock.ok()) return sock.status();
                absl::StatusOr<std::vector<LinkInfo>> links = sock->ListLinks();
                if (!links.ok()) return links.status();
                inside = *links;
                return absl::OkStatus();
              }).ok());
  ASSERT_EQ(inside.size(), 1u);
  EXPECT_EQ(inside[0].name, "lo");
  EXPECT_TRUE(inside[0].up);

  ASSERT_TRUE(RemoveNetns(net.netns_path_).ok());
  EXPECT_FALSE(IsNetnsMount(net.netns_path_));
  EXPECT_NE(access(net.netns_path_.c_str(), F_OK), 0);
  EXPECT_TRUE(RemoveNetns(net.netns_path_).ok()) << "idempotent";
}

TEST_F(NetworkIntegrationTest, BridgeIsIdempotentAndRefusesANonBridge) {
  TestNet net;
  ASSERT_TRUE(net.ChooseSubnet().ok());
  absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
  ASSERT_TRUE(sock.ok()) << sock.status();
  BridgeConfig bridge{net.bridge_, 1400, absl::StrCat(net.gateway_, "/24")};
  ASSERT_TRUE(sock->EnsureBridge(bridge).ok());
  absl::Status again = sock->EnsureBridge(bridge);
  ASSERT_TRUE(again.ok()) << again;
  absl::StatusOr<LinkInfo> link = sock->GetLink(net.bridge_);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->type, "bridge");
  EXPECT_EQ(link->mtu, 1400);
  EXPECT_TRUE(link->up);
  absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
  ASSERT_TRUE(addresses.ok());
  EXPECT_EQ(std::count(addresses->begin(), addresses->end(),
                       absl::StrCat(net.bridge_, ":", net.gateway_, "/24")),
            1);

  ASSERT_TRUE(sock->CreateVethPair(net.host_veth_, net.peer_veth_, 1500).ok());
  absl::Status taken = sock->CreateVethPair(net.host_veth_, net.peer_veth_, 1500);
  EXPECT_TRUE(absl::IsAlreadyExists(taken)) << taken;
  absl::Status not_bridge = sock->EnsureBridge({net.host_veth_, 1500, ""});
  EXPECT_TRUE(absl::IsFailedPrecondition(not_bridge)) << not_bridge;
  EXPECT_TRUE(absl::IsNotFound(sock->DeleteLink("ktnonexistent")));
}

TEST_F(NetworkIntegrationTest, TcpToTheNamespaceAndDnatFromLoopback) {
  TestNet net;
  absl::Status setup = net.SetUp();
  ASSERT_TRUE(setup.ok()) << setup;

  // Inside: eth0 with the address and the default route, lo up.
  std::vector<std::string> inside_addresses;
  ASSERT_TRUE(RunInNetns(net.netns_path_, [&]() -> absl::Status {
                absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
                if (!sock.ok()) return sock.status();
                absl::StatusOr<std::vector<std::string>> a = sock->ListAddresses();
                if (!a.ok()) return a.status();
                for (const std::string& s : *a) {
                  if (s.find(':') != std::string::npos && s.find("fe80") == std::string::npos &&
                      s.find("::1") == std::string::npos) {
                    inside_addresses.push_back(s);
                  }
                }
                return absl::OkStatus();
              }).ok());
  EXPECT_THAT(inside_addresses,
              ElementsAre(absl::StrCat("eth0:", net.container_ip_, "/24"), "lo:127.0.0.1/8"));

  constexpr uint16_t kInsidePort = 8080;
  absl::StatusOr<UniqueFd> listener = net.ListenInside(kInsidePort);
  ASSERT_TRUE(listener.ok()) << listener.status();

  // Host -> namespace over the bridge: the listener sees the bridge's address as the source.
  absl::StatusOr<UniqueFd> direct = ConnectTcp(net.container_ip_, kInsidePort);
  ASSERT_TRUE(direct.ok()) << direct.status();
  absl::StatusOr<std::string> peer = AcceptPeer(listener->get());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(*peer, net.gateway_);

  // 127.0.0.1:<free port> -> container:8080, the port held by a reservation socket.
  PortMapping mapping{"127.0.0.1", 0, kInsidePort, Protocol::kTcp};
  absl::StatusOr<UniqueFd> reservation = ReserveHostPort(&mapping);
  ASSERT_TRUE(reservation.ok()) << reservation.status();
  ASSERT_NE(mapping.host_port, 0);
  PortMapping same = mapping;
  absl::StatusOr<UniqueFd> twice = ReserveHostPort(&same);
  EXPECT_TRUE(absl::IsFailedPrecondition(twice.status())) << twice.status();
  EXPECT_EQ(twice.status().message(),
            absl::StrCat("host port 127.0.0.1:", mapping.host_port, "/tcp is already in use"));

  ASSERT_TRUE(EnableRouteLocalnet(net.bridge_).ok());
  absl::StatusOr<Nftables> nft = Nftables::Create();
  ASSERT_TRUE(nft.ok()) << nft.status();
  NatState state;
  state.networks = {{net.bridge_, net.subnet_, false}};
  state.ports = {{mapping, net.container_ip_, net.bridge_}};
  absl::Status applied = nft->Apply(net.table_, state);
  ASSERT_TRUE(applied.ok()) << applied;
  applied = nft->Apply(net.table_, state);
  ASSERT_TRUE(applied.ok()) << "idempotent: " << applied;
  absl::StatusOr<std::string> listed = nft->ListTable(net.table_);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, ::testing::HasSubstr(absl::StrCat("dnat to ", net.container_ip_, ":8080")));

  absl::StatusOr<UniqueFd> published = ConnectTcp("127.0.0.1", mapping.host_port);
  ASSERT_TRUE(published.ok()) << published.status() << "\n" << *listed;
  peer = AcceptPeer(listener->get());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(*peer, net.gateway_) << "loopback sources are masqueraded to the bridge address";

  // Without the rule, nothing answers on the published port any more.
  ASSERT_TRUE(nft->DeleteTable(net.table_).ok());
  EXPECT_FALSE(*nft->HasTable(net.table_));
  absl::StatusOr<UniqueFd> after = ConnectTcp("127.0.0.1", mapping.host_port, 1000);
  EXPECT_FALSE(after.ok());
  EXPECT_TRUE(nft->DeleteTable(net.table_).ok()) << "idempotent";
}

TEST_F(NetworkIntegrationTest, TakenHostPortIsRefused) {
  UniqueFd host_listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(host_listener.valid());
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(host_listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(host_listener.get(), 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(host_listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  uint16_t port = ntohs(addr.sin_port);

  for (const char* host_ip : {"127.0.0.1", ""}) {
    PortMapping wanted{host_ip, port, 80, Protocol::kTcp};
    absl::StatusOr<UniqueFd> r = ReserveHostPort(&wanted);
    ASSERT_FALSE(r.ok()) << host_ip;
    EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
    EXPECT_EQ(r.status().message(), absl::StrCat("host port ", *host_ip ? host_ip : "0.0.0.0", ":",
                                                 port, "/tcp is already in use"));
  }
  PortMapping foreign{"192.0.2.250", 18080, 80, Protocol::kTcp};
  absl::StatusOr<UniqueFd> r = ReserveHostPort(&foreign);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
}

TEST_F(NetworkIntegrationTest, TeardownLeavesTheHostExactlyAsBefore) {
  std::string netns_dir = absl::StrCat("/run/kapsel-test-", getpid());
  absl::StatusOr<HostSnapshot> before = Snapshot(netns_dir);
  ASSERT_TRUE(before.ok()) << before.status();
  {
    TestNet net;
    absl::Status setup = net.SetUp();
    ASSERT_TRUE(setup.ok()) << setup;
    ASSERT_TRUE(EnableRouteLocalnet(net.bridge_).ok());
    absl::StatusOr<Nftables> nft = Nftables::Create();
    ASSERT_TRUE(nft.ok());
    NatState state;
    state.networks = {{net.bridge_, net.subnet_, false}};
    state.ports = {{{"127.0.0.1", 18999, 80, Protocol::kTcp}, net.container_ip_, net.bridge_}};
    ASSERT_TRUE(nft->Apply(net.table_, state).ok());
    absl::StatusOr<HostSnapshot> during = Snapshot(netns_dir);
    ASSERT_TRUE(during.ok());
    EXPECT_NE(*during, *before);
    EXPECT_EQ(during->netns_mounts.size(), 1u);
    absl::Status down = net.TearDown();
    ASSERT_TRUE(down.ok()) << down;
  }
  absl::StatusOr<HostSnapshot> after = Snapshot(netns_dir);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->links, before->links);
  EXPECT_EQ(after->addresses, before->addresses);
  EXPECT_EQ(after->nft_tables, before->nft_tables);
  EXPECT_TRUE(after->netns_mounts.empty());
}

}  // namespace
}  // namespace kapsel::network
