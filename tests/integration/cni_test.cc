// CNI on the real kernel with Debian's containernetworking-plugins (/usr/lib/cni: bridge,
// host-local, loopback). Needs root. Every name carries the test's pid (bridge and network
// kct<pid>, subnet 10.218.<n>.0/24 not used on the host, state in /run/kapsel-cni-test-<pid>,
// host-local's dataDir inside it) and TearDown removes all of it even when an assertion failed.
// No packet leaves the test's namespace and bridge.
//
// The bridge plugin with isGateway turns on net.ipv4.ip_forward; when it was off before the test,
// TearDown turns it off again.

#include "runtime/network/cni.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/network/netlink.h"
#include "runtime/network/netns.h"
#include "tests/integration/mountinfo.h"

namespace kapsel::network {
namespace {

using ::kapsel::test_support::MountsUnder;

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kPluginDir[] = "/usr/lib/cni";
constexpr char kIpForward[] = "/proc/sys/net/ipv4/ip_forward";

std::string ReadLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Links and addresses inside the namespace at `netns`, as "name" and "link:address/prefix".
absl::Status InsideNetns(const std::string& netns, std::vector<LinkInfo>* links,
                         std::vector<std::string>* addresses) {
  return RunInNetns(netns, [&]() -> absl::Status {
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    absl::StatusOr<std::vector<LinkInfo>> l = sock->ListLinks();
    if (!l.ok()) return l.status();
    *links = *l;
    absl::StatusOr<std::vector<std::string>> a = sock->ListAddresses();
    if (!a.ok()) return a.status();
    *addresses = *a;
    return absl::OkStatus();
  });
}

std::vector<std::string> LinkNames(const std::vector<LinkInfo>& links) {
  std::vector<std::string> names;
  for (const LinkInfo& l : links) names.push_back(l.name);
  return names;
}

class CniIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, bridges)";
    for (const char* plugin : {"bridge", "host-local", "loopback"}) {
      if (access(absl::StrCat(kPluginDir, "/", plugin).c_str(), X_OK) != 0) {
        GTEST_SKIP() << kPluginDir << "/" << plugin << " is missing (containernetworking-plugins)";
      }
    }
    pid_ = getpid();
    dir_ = absl::StrCat("/run/kapsel-cni-test-", pid_);
    netns_ = dir_ + "/netns";
    bridge_ = absl::StrCat("kct", pid_);
    network_ = bridge_;
    ip_forward_before_ = ReadLine(kIpForward);
    ASSERT_TRUE(ChooseSubnet().ok());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_ << ": " << strerror(errno);
    created_dir_ = true;
    for (const char* d : {"/conf", "/ipam"}) ASSERT_EQ(mkdir((dir_ + d).c_str(), 0700), 0);
    absl::Status netns = CreateNetns(netns_);
    ASSERT_TRUE(netns.ok()) << netns;
    options_.conf_dir = dir_ + "/conf";
    options_.plugin_dirs = {kPluginDir};
    options_.cache_dir = dir_ + "/cache";
  }

  // Removes whatever the test made, ignoring what is already gone, and checks nothing is left.
  void TearDown() override {
    if (!created_dir_) return;
    // A test that stopped between ADD and DEL left the cache file: DEL from it.
    if (fs::exists(absl::StrCat(options_.cache_dir, "/", network_, "-c1.json"))) {
      absl::Status del = CniDel(options_, network_, "c1", netns_, "eth0");
      EXPECT_TRUE(del.ok()) << del;
    }
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    ASSERT_TRUE(sock.ok()) << sock.status();
    absl::Status link = sock->DeleteLink(bridge_);
    EXPECT_TRUE(link.ok() || absl::IsNotFound(link)) << link;
    absl::Status netns = RemoveNetns(netns_);
    EXPECT_TRUE(netns.ok()) << netns;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    EXPECT_FALSE(ec) << dir_ << ": " << ec.message();
    if (ip_forward_before_ == "0" && ReadLine(kIpForward) == "1") {
      std::ofstream(kIpForward) << "0\n";
    }

    EXPECT_THAT(MountsUnder(dir_), IsEmpty());
    EXPECT_FALSE(fs::exists(dir_));
    absl::StatusOr<std::vector<LinkInfo>> links = sock->ListLinks();
    ASSERT_TRUE(links.ok()) << links.status();
    EXPECT_THAT(LinkNames(*links), Not(Contains(bridge_)));
    absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
    ASSERT_TRUE(addresses.ok()) << addresses.status();
    for (const std::string& a : *addresses) EXPECT_THAT(a, Not(HasSubstr(":" + prefix_))) << a;
  }

  // Picks 10.218.<n>.0/24, n from the pid, not used by any host address.
  absl::Status ChooseSubnet() {
    absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    absl::StatusOr<std::vector<std::string>> addresses = sock->ListAddresses();
    if (!addresses.ok()) return addresses.status();
    for (int i = 0; i < 250; ++i) {
      std::string prefix = absl::StrCat("10.218.", (pid_ + i) % 250, ".");
      bool used = false;
      for (const std::string& a : *addresses) used = used || absl::StrContains(a, ":" + prefix);
      if (!used) {
        prefix_ = prefix;
        return absl::OkStatus();
      }
    }
    return absl::UnavailableError("no free 10.218.x.0/24 on this host");
  }

  json BridgePlugin() const {
    return {{"type", "bridge"},
            {"bridge", bridge_},
            {"isGateway", true},
            {"ipMasq", false},
            {"ipam",
             {{"type", "host-local"},
              {"subnet", prefix_ + "0/24"},
              {"dataDir", dir_ + "/ipam"},
              {"routes", json::array({{{"dst", "0.0.0.0/0"}}})}}}};
  }

  void WriteConf(const json& plugins) {
    json list = {{"cniVersion", "1.0.0"}, {"name", network_}, {"plugins", plugins}};
    std::ofstream(options_.conf_dir + "/10-" + network_ + ".conflist") << list.dump(2);
  }

  std::string ReservationFile(const std::string& ip) const {
    return absl::StrCat(dir_, "/ipam/", network_, "/", ip);
  }

  int pid_ = 0;
  bool created_dir_ = false;
  std::string dir_, netns_, bridge_, network_, prefix_, ip_forward_before_;
  CniOptions options_;
};

TEST_F(CniIntegrationTest, BridgeAddCheckDel) {
  WriteConf(json::array({BridgePlugin(), {{"type", "loopback"}}}));
  absl::StatusOr<CniResult> result = CniAdd(options_, network_, "c1", netns_, "eth0");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->interface, "eth0");
  EXPECT_THAT(result->address, testing::StartsWith(prefix_));
  EXPECT_EQ(result->prefix_length, 24);
  EXPECT_EQ(result->gateway, prefix_ + "1");
  EXPECT_TRUE(fs::exists(ReservationFile(result->address)));
  EXPECT_TRUE(fs::exists(absl::StrCat(options_.cache_dir, "/", network_, "-c1.json")));

  std::vector<LinkInfo> links;
  std::vector<std::string> addresses;
  ASSERT_TRUE(InsideNetns(netns_, &links, &addresses).ok());
  EXPECT_THAT(LinkNames(links), Contains("eth0"));
  EXPECT_THAT(addresses, Contains(absl::StrCat("eth0:", result->address, "/24")));

  absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
  ASSERT_TRUE(sock.ok());
  absl::StatusOr<LinkInfo> bridge = sock->GetLink(bridge_);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  EXPECT_EQ(bridge->type, "bridge");

  absl::Status check = CniCheck(options_, network_, "c1", netns_, "eth0");
  EXPECT_TRUE(check.ok()) << check;

  absl::Status del = CniDel(options_, network_, "c1", netns_, "eth0");
  ASSERT_TRUE(del.ok()) << del;
  ASSERT_TRUE(InsideNetns(netns_, &links, &addresses).ok());
  EXPECT_THAT(LinkNames(links), Not(Contains("eth0")));
  EXPECT_FALSE(fs::exists(ReservationFile(result->address)));
  EXPECT_FALSE(fs::exists(absl::StrCat(options_.cache_dir, "/", network_, "-c1.json")));
  // The host end of the veth went with eth0: nothing is attached to the bridge any more.
  absl::StatusOr<std::vector<LinkInfo>> host_links = sock->ListLinks();
  ASSERT_TRUE(host_links.ok());
  for (const LinkInfo& l : *host_links) EXPECT_NE(l.master, bridge->index) << l.name;

  absl::Status again = CniDel(options_, network_, "c1", netns_, "eth0");
  EXPECT_TRUE(again.ok()) << "DEL is idempotent: " << again;
}

TEST_F(CniIntegrationTest, FailedAddLeavesNothingInTheNamespace) {
  // The second bridge plugin finds eth0 taken and fails; the rollback DELs both.
  json second = BridgePlugin();
  second["ipam"]["type"] = "kapsel-no-such-ipam";
  WriteConf(json::array({BridgePlugin(), second}));
  absl::StatusOr<CniResult> result = CniAdd(options_, network_, "c1", netns_, "eth0");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(),
              HasSubstr(absl::StrCat("CNI plugin bridge (network \"", network_, "\") ADD failed")));
  std::vector<LinkInfo> links;
  std::vector<std::string> addresses;
  ASSERT_TRUE(InsideNetns(netns_, &links, &addresses).ok());
  EXPECT_THAT(LinkNames(links), Not(Contains("eth0")));
  for (const std::string& ip_file : {prefix_ + "2", prefix_ + "3"}) {
    EXPECT_FALSE(fs::exists(ReservationFile(ip_file))) << ip_file;
  }
  EXPECT_FALSE(fs::exists(absl::StrCat(options_.cache_dir, "/", network_, "-c1.json")));
}

TEST_F(CniIntegrationTest, UnknownNetworkIsNotFound) {
  absl::StatusOr<CniResult> result = CniAdd(options_, "kapsel-no-such-net", "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsNotFound(result.status())) << result.status();
}

TEST_F(CniIntegrationTest, UnknownPluginTypeIsFailedPreconditionAndLeavesNothing) {
  WriteConf(json::array({BridgePlugin(), {{"type", "kapsel-no-such-plugin"}}}));
  absl::StatusOr<CniResult> result = CniAdd(options_, network_, "c1", netns_, "eth0");
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("kapsel-no-such-plugin"));
  std::vector<LinkInfo> links;
  std::vector<std::string> addresses;
  ASSERT_TRUE(InsideNetns(netns_, &links, &addresses).ok());
  EXPECT_THAT(LinkNames(links), testing::ElementsAre("lo"));
  absl::StatusOr<RouteSocket> sock = RouteSocket::Open();
  ASSERT_TRUE(sock.ok());
  EXPECT_TRUE(absl::IsNotFound(sock->GetLink(bridge_).status())) << "no plugin ran";
  EXPECT_FALSE(fs::exists(dir_ + "/ipam/" + network_));
}

}  // namespace
}  // namespace kapsel::network
