// The daemon's NetworkManager on the real kernel: a container's namespace on a bridge with a port
// published on 127.0.0.1, the bad inputs that must leave nothing behind, and recovery after a
// simulated daemon crash. Needs root. Names carry the pid (bridge kn<pid>, veths q<pid>...,
// table kapsel_test_nm_<pid>, /run/kapsel-test-nm-<pid>) and the fixture removes all of it.

#include "daemon/network_manager.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/network/ipam.h"
#include "runtime/network/netlink.h"
#include "runtime/network/netns.h"
#include "runtime/network/nft.h"

namespace kapsel::daemon {
namespace {

using linux::UniqueFd;

absl::StatusOr<UniqueFd> ConnectTcp(const std::string& ip, uint16_t port, int timeout_ms = 5000) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 &&
      errno != EINPROGRESS) {
    return absl::ErrnoToStatus(errno, "connect");
  }
  struct pollfd pfd = {fd.get(), POLLOUT, 0};
  if (poll(&pfd, 1, timeout_ms) != 1) return absl::DeadlineExceededError("connect");
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return absl::ErrnoToStatus(err, "connect");
  return fd;
}

bool Accepts(int listener) {
  struct pollfd pfd = {listener, POLLIN, 0};
  if (poll(&pfd, 1, 5000) != 1) return false;
  UniqueFd conn(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  return conn.valid();
}

absl::StatusOr<UniqueFd> ListenIn(const std::string& netns, uint16_t port) {
  UniqueFd listener;
  absl::Status s = network::RunInNetns(netns, [&]() -> absl::Status {
    listener.Reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
        listen(listener.get(), 8) < 0) {
      return absl::ErrnoToStatus(errno, "listen");
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return listener;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path());
  return out;
}

std::vector<std::string> HostLinks() {
  std::vector<std::string> out;
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return out;
  absl::StatusOr<std::vector<network::LinkInfo>> links = sock->ListLinks();
  if (!links.ok()) return out;
  for (const network::LinkInfo& l : *links) out.push_back(l.name);
  return out;
}

std::vector<std::string> HostAddresses() {
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return {};
  absl::StatusOr<std::vector<std::string>> a = sock->ListAddresses();
  return a.ok() ? *a : std::vector<std::string>{};
}

class NetworkManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, netlink, nftables)";
    pid_ = getpid();
    root_ = absl::StrCat("/run/kapsel-test-nm-", pid_);
    std::filesystem::create_directories(root_);
    links_before_ = HostLinks();
    addresses_before_ = HostAddresses();
    absl::StatusOr<std::unique_ptr<store::Database>> db =
        store::Database::Open(absl::StrCat(root_, "/kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    options_.netns_dir = absl::StrCat(root_, "/netns");
    options_.nft_table = absl::StrCat("kapsel_test_nm_", pid_);
    options_.default_bridge = absl::StrCat("kn", pid_);
    options_.veth_prefix = absl::StrCat("q", pid_ % 100000);
    options_.bridge_prefix = absl::StrCat("kb", pid_ % 100000);
    options_.enable_ip_forward = false;
    for (int i = 0; i < 200; ++i) {
      std::string prefix = absl::StrCat(":10.213.", 20 + (pid_ + 100 + i) % 200, ".");
      bool used = false;
      for (const std::string& a : addresses_before_) used |= a.find(prefix) != std::string::npos;
      if (!used) {
        options_.default_subnet = absl::StrCat(prefix.substr(1), "0/24");
        break;
      }
    }
    absl::StatusOr<std::unique_ptr<NetworkManager>> m = NetworkManager::Create(db_.get(), options_);
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = *std::move(m);
  }

  void TearDown() override {
    if (pid_ == 0) return;
    manager_.reset();
    absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
    if (sock.ok()) {
      for (const std::string& link : HostLinks()) {
        if (link.rfind(options_.veth_prefix, 0) == 0 || link == options_.default_bridge ||
            link.rfind(options_.bridge_prefix, 0) == 0) {
          (void)sock->DeleteLink(link);
        }
      }
    }
    for (const std::string& id : Ids()) (void)network::RemoveNetns(options_.netns_dir + "/" + id);
    absl::StatusOr<network::Nftables> nft = network::Nftables::Create();
    if (nft.ok()) {
      EXPECT_TRUE(nft->DeleteTable(options_.nft_table).ok());
    }
    db_.reset();
    std::filesystem::remove_all(root_);
    EXPECT_EQ(HostLinks(), links_before_);
    EXPECT_EQ(HostAddresses(), addresses_before_);
  }

  // Ids differ in their first digits, which name the veths, as random ids do.
  std::string Id(int n) const {
    return absl::StrFormat("%02d%06x", n, pid_ & 0xffffff) + std::string(56, 'a');
  }
  // A 10.213.x.0/24 that no host address and not the default network uses, other than `taken`,
  // searched from an offset of the pid (tests running side by side pick apart).
  std::string FreeSubnet(int offset, const std::string& taken = "") const {
    for (int i = 0; i < 200; ++i) {
      std::string s = absl::StrCat("10.213.", 20 + (pid_ + offset + i) % 200, ".0/24");
      if (s == options_.default_subnet || s == taken) continue;
      std::string prefix = absl::StrCat(":", s.substr(0, s.size() - 4));
      bool used = false;
      for (const std::string& addr : addresses_before_) {
        used |= addr.find(prefix) != std::string::npos;
      }
      if (!used) return s;
    }
    return "";
  }
  std::vector<std::string> Ids() const {
    std::vector<std::string> out;
    for (int i = 0; i < 10; ++i) out.push_back(Id(i));
    return out;
  }
  std::string NftRules() {
    absl::StatusOr<network::Nftables> nft = network::Nftables::Create();
    absl::StatusOr<std::string> t = nft->ListTable(options_.nft_table);
    return t.ok() ? *t : t.status().ToString();
  }

  int pid_ = 0;
  std::string root_;
  std::vector<std::string> links_before_, addresses_before_;
  std::unique_ptr<store::Database> db_;
  NetworkManagerOptions options_;
  std::unique_ptr<NetworkManager> manager_;
};

TEST_F(NetworkManagerTest, BridgeContainerWithAPortOnLoopback) {
  absl::StatusOr<NetworkAttachment> a = manager_->Prepare(Id(1), "", {"127.0.0.1::8080"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->mode, "bridge");
  EXPECT_EQ(a->netns_path, manager_->NetnsPath(Id(1)));
  absl::StatusOr<network::Ipv4Subnet> subnet = network::Ipv4Subnet::Parse(options_.default_subnet);
  EXPECT_EQ(a->address, network::FormatIpv4(subnet->gateway() + 1));
  EXPECT_EQ(a->gateway, network::FormatIpv4(subnet->gateway()));
  ASSERT_EQ(a->ports.size(), 1u);
  uint16_t host_port = a->ports[0].host_port;
  ASSERT_NE(host_port, 0);

  absl::StatusOr<NetworkAttachment> again = manager_->Prepare(Id(1), "", {"127.0.0.1::8080"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->address, a->address);
  ASSERT_EQ(again->ports.size(), 1u);
  EXPECT_EQ(again->ports[0].host_port, host_port);

  absl::StatusOr<UniqueFd> listener = ListenIn(a->netns_path, 8080);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<UniqueFd> direct = ConnectTcp(a->address, 8080);
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_TRUE(Accepts(listener->get()));
  absl::StatusOr<UniqueFd> published = ConnectTcp("127.0.0.1", host_port);
  ASSERT_TRUE(published.ok()) << published.status() << "\n" << NftRules();
  EXPECT_TRUE(Accepts(listener->get()));

  // The same host port again: refused, and the second container leaves nothing behind.
  absl::StatusOr<NetworkAttachment> clash =
      manager_->Prepare(Id(2), "", {absl::StrCat("127.0.0.1:", host_port, ":80")});
  ASSERT_FALSE(clash.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(clash.status())) << clash.status();
  EXPECT_THAT(std::string(clash.status().message()), ::testing::HasSubstr("already published"));
  EXPECT_FALSE(network::IsNetnsMount(manager_->NetnsPath(Id(2))));
  store::NetworkRepo repo(db_.get());
  EXPECT_TRUE(repo.AllocationsOf(Id(2))->empty());

  // A second container gets the next address and reaches the first over the bridge.
  absl::StatusOr<NetworkAttachment> b = manager_->Prepare(Id(3), "bridge", {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->address, network::FormatIpv4(subnet->gateway() + 2));
  absl::Status reach = network::RunInNetns(b->netns_path, [&]() -> absl::Status {
    absl::StatusOr<UniqueFd> c = ConnectTcp(a->address, 8080);
    return c.status();
  });
  EXPECT_TRUE(reach.ok()) << reach;
  EXPECT_TRUE(Accepts(listener->get()));

  ASSERT_TRUE(manager_->Release(Id(1)).ok());
  ASSERT_TRUE(manager_->Release(Id(1)).ok()) << "idempotent";
  ASSERT_TRUE(manager_->Release(Id(3)).ok());
  EXPECT_FALSE(network::IsNetnsMount(a->netns_path));
  EXPECT_TRUE(repo.Allocations()->empty());
  EXPECT_TRUE(repo.Ports()->empty());
  EXPECT_THAT(NftRules(), ::testing::Not(::testing::HasSubstr("dnat")));
  // Only the bridge is left of what was made; TearDown removes it and checks the rest.
  for (const std::string& link : HostLinks()) {
    EXPECT_NE(link.rfind(options_.veth_prefix, 0), 0u) << link;
  }
}

TEST_F(NetworkManagerTest, BadInputLeavesNothingBehind) {
  absl::StatusOr<NetworkAttachment> bad = manager_->Prepare(Id(1), "", {"80:x"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_EQ(bad.status().message(),
            "malformed -p \"80:x\": container port \"x\" is not a port number 1-65535");
  bad = manager_->Prepare(Id(1), "nosuchnet", {});
  EXPECT_TRUE(absl::IsNotFound(bad.status())) << bad.status();
  EXPECT_EQ(bad.status().message(), "network \"nosuchnet\" not found");
  bad = manager_->Prepare(Id(1), "none", {"8080:80"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  absl::StatusOr<store::NetworkRecord> overlap =
      manager_->CreateNetwork("other", options_.default_subnet, false);
  EXPECT_TRUE(absl::IsFailedPrecondition(overlap.status())) << overlap.status();
  EXPECT_FALSE(network::IsNetnsMount(manager_->NetnsPath(Id(1))));
  EXPECT_EQ(HostLinks(), links_before_);
}

TEST_F(NetworkManagerTest, NoneAndContainerModes) {
  absl::StatusOr<NetworkAttachment> none = manager_->Prepare(Id(1), "none", {});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(network::IsNetnsMount(none->netns_path));
  absl::StatusOr<NetworkAttachment> shared =
      manager_->Prepare(Id(2), absl::StrCat("container:", Id(1)), {});
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->netns_path, none->netns_path);
  absl::StatusOr<NetworkAttachment> host = manager_->Prepare(Id(3), "host", {});
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->netns_path.empty());
  ASSERT_TRUE(manager_->Release(Id(2)).ok());
  EXPECT_TRUE(network::IsNetnsMount(none->netns_path)) << "sharing does not own the namespace";
  ASSERT_TRUE(manager_->Release(Id(1)).ok());
  EXPECT_FALSE(network::IsNetnsMount(none->netns_path));
}

TEST_F(NetworkManagerTest, ReconcileAfterACrashRemovesWhatNoContainerOwns) {
  ASSERT_TRUE(manager_->Prepare(Id(1), "", {"127.0.0.1::8080"}).ok());
  absl::StatusOr<NetworkAttachment> kept = manager_->Prepare(Id(2), "", {"127.0.0.1::8081"});
  ASSERT_TRUE(kept.ok()) << kept.status();
  // The daemon dies without releasing anything; a new one knows only container 2.
  manager_.reset();
  absl::StatusOr<std::unique_ptr<NetworkManager>> m = NetworkManager::Create(db_.get(), options_);
  ASSERT_TRUE(m.ok()) << m.status();
  manager_ = *std::move(m);
  absl::Status reconciled = manager_->Reconcile({Id(2)});
  ASSERT_TRUE(reconciled.ok()) << reconciled;

  EXPECT_FALSE(network::IsNetnsMount(manager_->NetnsPath(Id(1))));
  EXPECT_TRUE(network::IsNetnsMount(manager_->NetnsPath(Id(2))));
  std::vector<std::string> links = HostLinks();
  EXPECT_THAT(links, ::testing::Not(::testing::Contains(manager_->VethName(Id(1)))));
  EXPECT_THAT(links, ::testing::Contains(manager_->VethName(Id(2))));
  store::NetworkRepo repo(db_.get());
  EXPECT_TRUE(repo.AllocationsOf(Id(1))->empty());
  EXPECT_EQ(repo.AllocationsOf(Id(2))->size(), 1u);
  std::string rules = NftRules();
  EXPECT_THAT(rules, ::testing::HasSubstr(absl::StrCat("dnat to ", kept->address, ":8081")));
  EXPECT_THAT(rules, ::testing::Not(::testing::HasSubstr(":8080")));

  // The surviving container's port is held again and still forwards.
  absl::StatusOr<UniqueFd> listener = ListenIn(kept->netns_path, 8081);
  ASSERT_TRUE(listener.ok());
  absl::StatusOr<UniqueFd> c = ConnectTcp("127.0.0.1", kept->ports[0].host_port);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(Accepts(listener->get()));

  ASSERT_TRUE(manager_->Reconcile({}).ok());
  EXPECT_FALSE(network::IsNetnsMount(manager_->NetnsPath(Id(2))));
  EXPECT_TRUE(repo.Allocations()->empty());
}

TEST_F(NetworkManagerTest, UserNetworksAreIsolatedAndInternalHasNoRouteOut) {
  const std::string a_subnet = FreeSubnet(7);
  const std::string b_subnet = FreeSubnet(7, a_subnet);
  ASSERT_TRUE(manager_->CreateNetwork("neta", a_subnet, false).ok());
  ASSERT_TRUE(manager_->CreateNetwork("netb", b_subnet, true).ok());
  absl::StatusOr<NetworkAttachment> a = manager_->Prepare(Id(1), "neta", {});
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<NetworkAttachment> b = manager_->Prepare(Id(2), "netb", {});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->gateway.empty());
  absl::Status in_use = manager_->RemoveNetwork("neta");
  EXPECT_TRUE(absl::IsFailedPrecondition(in_use)) << in_use;

  absl::StatusOr<UniqueFd> listener = ListenIn(a->netns_path, 8080);
  ASSERT_TRUE(listener.ok());
  // netb is internal: no default route, so a's address is unreachable from b.
  absl::Status from_b = network::RunInNetns(
      b->netns_path, [&]() -> absl::Status { return ConnectTcp(a->address, 8080, 1000).status(); });
  EXPECT_FALSE(from_b.ok());
  ASSERT_TRUE(manager_->Release(Id(1)).ok());
  ASSERT_TRUE(manager_->Release(Id(2)).ok());
  ASSERT_TRUE(manager_->RemoveNetwork("neta").ok());
  ASSERT_TRUE(manager_->RemoveNetwork("netb").ok());
}

// The addresses of the links in a namespace, as "link:address/prefix".
std::vector<std::string> AddressesIn(const std::string& netns) {
  std::vector<std::string> out;
  (void)network::RunInNetns(netns, [&]() -> absl::Status {
    out = HostAddresses();
    return absl::OkStatus();
  });
  return out;
}

TEST_F(NetworkManagerTest, ConnectAddsAnInterfaceDisconnectRemovesItAndRestartsKeepIt) {
  const std::string subnet = FreeSubnet(11);
  ASSERT_TRUE(manager_->CreateNetwork("netc", subnet, false).ok());
  absl::StatusOr<NetworkAttachment> a = manager_->Prepare(Id(1), "", {});
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<NetworkAttachment> b = manager_->Prepare(Id(2), "netc", {});
  ASSERT_TRUE(b.ok()) << b.status();
  absl::StatusOr<UniqueFd> listener = ListenIn(b->netns_path, 8080);
  ASSERT_TRUE(listener.ok());

  absl::StatusOr<ConnectedNetwork> c = manager_->Connect(Id(1), "netc");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->interface, "eth1");
  EXPECT_EQ(c->network, "netc");
  EXPECT_THAT(AddressesIn(a->netns_path),
              ::testing::Contains(absl::StrCat("eth1:", c->address, "/", c->prefix_length)));
  // eth1 is on netc's bridge: a's namespace reaches b directly.
  absl::Status to_b = network::RunInNetns(
      a->netns_path, [&]() -> absl::Status { return ConnectTcp(b->address, 8080).status(); });
  EXPECT_TRUE(to_b.ok()) << to_b;
  EXPECT_TRUE(Accepts(listener->get()));

  EXPECT_TRUE(absl::IsAlreadyExists(manager_->Connect(Id(1), "netc").status()));
  EXPECT_TRUE(absl::IsNotFound(manager_->Connect(Id(1), "nosuchnet").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(manager_->Connect(Id(5), "netc").status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(manager_->Disconnect(Id(1), "bridge")));
  EXPECT_TRUE(absl::IsNotFound(manager_->Disconnect(Id(2), "bridge")));
  absl::StatusOr<NetworkAttachment> described = manager_->Describe(Id(1), "");
  ASSERT_TRUE(described.ok());
  ASSERT_EQ(described->connected.size(), 1u);
  EXPECT_EQ(described->connected[0].address, c->address);

  // A reconcile keeps the second veth of a known container.
  ASSERT_TRUE(manager_->Reconcile({Id(1), Id(2)}).ok());
  EXPECT_THAT(HostLinks(), ::testing::Contains(manager_->VethName(Id(1), 1)));

  ASSERT_TRUE(manager_->Disconnect(Id(1), "netc").ok());
  EXPECT_THAT(HostLinks(), ::testing::Not(::testing::Contains(manager_->VethName(Id(1), 1))));
  for (const std::string& addr : AddressesIn(a->netns_path)) {
    EXPECT_FALSE(absl::StartsWith(addr, "eth1:")) << addr;
  }
  absl::StatusOr<std::vector<store::IpAllocation>> mine = manager_->AddressesOf(Id(1));
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->size(), 1u);

  // After a reboot (the namespace gone), the next Prepare joins netc again.
  ASSERT_TRUE(manager_->Connect(Id(1), "netc").ok());
  ASSERT_TRUE(network::RemoveNetns(a->netns_path).ok());
  absl::StatusOr<NetworkAttachment> again = manager_->Prepare(Id(1), "", {});
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->connected.size(), 1u);
  EXPECT_EQ(again->connected[0].interface, "eth1");
  EXPECT_THAT(AddressesIn(again->netns_path),
              ::testing::Contains(absl::StrCat("eth1:", again->connected[0].address, "/",
                                               again->connected[0].prefix_length)));

  ASSERT_TRUE(manager_->Release(Id(1)).ok());
  ASSERT_TRUE(manager_->Release(Id(2)).ok());
  ASSERT_TRUE(manager_->RemoveNetwork("netc").ok());
  for (const std::string& link : HostLinks()) {
    EXPECT_FALSE(absl::StartsWith(link, options_.veth_prefix)) << link;
  }
}

TEST_F(NetworkManagerTest, FiftyContainersLeaveNothingBehind) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(absl::StrFormat("%02d%06x", i + 10, pid_ & 0xffffff) + std::string(56, 'b'));
    absl::StatusOr<NetworkAttachment> a =
        manager_->Prepare(ids.back(), "", {absl::StrCat("127.0.0.1::", 1000 + i)});
    ASSERT_TRUE(a.ok()) << i << ": " << a.status();
  }
  store::NetworkRepo repo(db_.get());
  EXPECT_EQ(repo.Allocations()->size(), 50u);
  EXPECT_EQ(repo.Ports()->size(), 50u);
  for (const std::string& id : ids) ASSERT_TRUE(manager_->Release(id).ok());
  EXPECT_TRUE(repo.Allocations()->empty());
  EXPECT_TRUE(repo.Ports()->empty());
  EXPECT_TRUE(ListDir(options_.netns_dir).empty());
  EXPECT_THAT(NftRules(), ::testing::Not(::testing::HasSubstr("dnat")));
  // TearDown removes the bridge, then compares links and addresses with the start.
}

}  // namespace
}  // namespace kapsel::daemon
