#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/network/nft.h"
#include "runtime/network/port_reservation.h"

namespace kapsel::network {
namespace {

using ::testing::HasSubstr;

TEST(RenderNatTable, ReplacesTheTableAtomically) {
  absl::StatusOr<std::string> script = RenderNatTable("kapsel", NatState{});
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_EQ(script->rfind("table ip kapsel {}\ndelete table ip kapsel\ntable ip kapsel {\n", 0), 0u)
      << *script;
}

TEST(RenderNatTable, MasqueradeIsolationAndPorts) {
  NatState state;
  state.networks = {{"kapsel0", "10.213.1.0/24", false}, {"kbr1", "10.213.2.0/24", true}};
  state.ports = {{{"127.0.0.1", 18080, 80, Protocol::kTcp}, "10.213.1.2", "kapsel0"},
                 {{"", 5353, 53, Protocol::kUdp}, "10.213.1.3", "kapsel0"}};
  absl::StatusOr<std::string> script = RenderNatTable("kapsel_test_1", state);
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_THAT(*script, HasSubstr("ip saddr 10.213.1.0/24 oifname != \"kapsel0\" masquerade"));
  EXPECT_EQ(script->find("ip saddr 10.213.2.0/24"), std::string::npos) << "internal: no masquerade";
  EXPECT_THAT(*script, HasSubstr("iifname \"kbr1\" oifname != \"kbr1\" drop"));
  EXPECT_THAT(*script, HasSubstr("oifname \"kbr1\" iifname != \"kbr1\" drop"));
  EXPECT_THAT(*script, HasSubstr("iifname \"kapsel0\" oifname { \"kbr1\" } drop"));
  EXPECT_THAT(*script, HasSubstr("ip daddr 127.0.0.1 tcp dport 18080 dnat to 10.213.1.2:80"));
  EXPECT_THAT(*script, HasSubstr("    udp dport 5353 dnat to 10.213.1.3:53"));
  EXPECT_THAT(*script, HasSubstr("ip saddr 127.0.0.0/8 oifname \"kapsel0\" masquerade"));
  EXPECT_THAT(*script, HasSubstr("iifname { \"kapsel0\", \"kbr1\" } ip daddr 127.0.0.0/8 drop"));
  EXPECT_THAT(*script, HasSubstr("iifname { \"kapsel0\", \"kbr1\" } ip daddr 127.0.0.0/8 ct state "
                                 "established,related accept"));
}

TEST(RenderNatTable, RefusesInjection) {
  EXPECT_FALSE(RenderNatTable("kapsel; flush ruleset", NatState{}).ok());
  EXPECT_FALSE(RenderNatTable("", NatState{}).ok());
  NatState bad_bridge;
  bad_bridge.networks = {{"br\" accept", "10.213.1.0/24", false}};
  EXPECT_FALSE(RenderNatTable("kapsel", bad_bridge).ok());
  NatState bad_ip;
  bad_ip.ports = {{{"", 80, 80, Protocol::kTcp}, "10.0.0.2; drop", "kapsel0"}};
  EXPECT_FALSE(RenderNatTable("kapsel", bad_ip).ok());
  NatState no_host_port;
  no_host_port.ports = {{{"", 0, 80, Protocol::kTcp}, "10.213.1.2", "kapsel0"}};
  EXPECT_FALSE(RenderNatTable("kapsel", no_host_port).ok());
}

TEST(CheckPublishedConflict, SameProtocolPortAndOverlappingAddress) {
  std::vector<PortMapping> published = {{"127.0.0.1", 18080, 80, Protocol::kTcp},
                                        {"", 9000, 90, Protocol::kTcp}};
  absl::Status taken = CheckPublishedConflict(published, {"127.0.0.1", 18080, 81, Protocol::kTcp});
  EXPECT_TRUE(absl::IsFailedPrecondition(taken)) << taken;
  EXPECT_EQ(taken.message(),
            "host port 127.0.0.1:18080/tcp is already published (127.0.0.1:18080:80/tcp)");
  EXPECT_FALSE(CheckPublishedConflict(published, {"", 18080, 80, Protocol::kTcp}).ok());
  EXPECT_FALSE(CheckPublishedConflict(published, {"10.1.1.1", 9000, 80, Protocol::kTcp}).ok());
  EXPECT_TRUE(CheckPublishedConflict(published, {"127.0.0.1", 18080, 80, Protocol::kUdp}).ok());
  EXPECT_TRUE(CheckPublishedConflict(published, {"10.1.1.1", 18080, 80, Protocol::kTcp}).ok());
  EXPECT_TRUE(CheckPublishedConflict(published, {"", 0, 80, Protocol::kTcp}).ok());
}

}  // namespace
}  // namespace kapsel::network
