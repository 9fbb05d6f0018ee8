#include "runtime/network/ipam.h"

#include "gtest/gtest.h"

namespace kapsel::network {
namespace {

TEST(ParseIpv4, RoundTrips) {
  absl::StatusOr<uint32_t> ip = ParseIpv4("10.213.1.2");
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_EQ(*ip, 0x0ad50102u);
  EXPECT_EQ(FormatIpv4(*ip), "10.213.1.2");
  EXPECT_EQ(FormatIpv4(0xffffffffu), "255.255.255.255");
}

TEST(ParseIpv4, RefusesMalformed) {
  for (const char* bad : {"", "10.0.0", "10.0.0.0.1", "256.0.0.1", "1.2.3.-4", "a.b.c.d", "1..2.3",
                          " 1.2.3.4", "1.2.3.4 ", "1.2.3.1234"}) {
    absl::StatusOr<uint32_t> ip = ParseIpv4(bad);
    EXPECT_FALSE(ip.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(ip.status())) << bad;
  }
}

TEST(Ipv4Subnet, ParsesAndDerivesAddresses) {
  absl::StatusOr<Ipv4Subnet> s = Ipv4Subnet::Parse("10.213.1.0/24");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->ToString(), "10.213.1.0/24");
  EXPECT_EQ(FormatIpv4(s->gateway()), "10.213.1.1");
  EXPECT_EQ(FormatIpv4(s->broadcast()), "10.213.1.255");
  EXPECT_EQ(s->AddressWithPrefix(s->gateway()), "10.213.1.1/24");
  EXPECT_TRUE(s->Contains(*ParseIpv4("10.213.1.200")));
  EXPECT_FALSE(s->Contains(*ParseIpv4("10.213.2.1")));
}

TEST(Ipv4Subnet, RefusesHostBitsWithTheCorrectedForm) {
  absl::StatusOr<Ipv4Subnet> s = Ipv4Subnet::Parse("10.213.1.7/24");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "invalid subnet \"10.213.1.7/24\": host bits are set (did you mean 10.213.1.0/24?)");
}

TEST(Ipv4Subnet, RefusesBadPrefixes) {
  for (const char* bad : {"10.0.0.0", "10.0.0.0/", "10.0.0.0/31", "10.0.0.0/32", "10.0.0.0/7",
                          "10.0.0.0/x", "10.0.0.0/-1", "10.0.0/24", "10.0.0.0/024"}) {
    EXPECT_FALSE(Ipv4Subnet::Parse(bad).ok()) << bad;
  }
}

TEST(Ipv4Subnet, Overlaps) {
  Ipv4Subnet a = *Ipv4Subnet::Parse("10.213.0.0/16");
  Ipv4Subnet b = *Ipv4Subnet::Parse("10.213.7.0/24");
  Ipv4Subnet c = *Ipv4Subnet::Parse("10.214.0.0/24");
  EXPECT_TRUE(a.Overlaps(b));
  EXPECT_TRUE(b.Overlaps(a));
  EXPECT_TRUE(b.Overlaps(b));
  EXPECT_FALSE(a.Overlaps(c));
  EXPECT_FALSE(c.Overlaps(b));
}

TEST(NextFreeAddress, SkipsNetworkGatewayAndBroadcast) {
  Ipv4Subnet s = *Ipv4Subnet::Parse("10.213.1.0/30");  // .0 network, .1 gateway, .2, .3 broadcast
  absl::StatusOr<uint32_t> first = NextFreeAddress(s, {});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(FormatIpv4(*first), "10.213.1.2");
  absl::StatusOr<uint32_t> none = NextFreeAddress(s, {*first});
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(none.status()));
  EXPECT_EQ(none.status().message(), "no free address left in subnet 10.213.1.0/30");
}

TEST(NextFreeAddress, FillsHolesLowestFirst) {
  Ipv4Subnet s = *Ipv4Subnet::Parse("10.213.1.0/24");
  absl::flat_hash_set<uint32_t> used = {*ParseIpv4("10.213.1.2"), *ParseIpv4("10.213.1.4")};
  EXPECT_EQ(FormatIpv4(*NextFreeAddress(s, used)), "10.213.1.3");
  used.insert(*ParseIpv4("10.213.1.3"));
  EXPECT_EQ(FormatIpv4(*NextFreeAddress(s, used)), "10.213.1.5");
}

TEST(NextFreeAddress, UsesEveryHostAddressOfASubnet) {
  Ipv4Subnet s = *Ipv4Subnet::Parse("10.213.1.0/28");
  absl::flat_hash_set<uint32_t> used;
  while (true) {
    absl::StatusOr<uint32_t> next = NextFreeAddress(s, used);
    if (!next.ok()) break;
    EXPECT_TRUE(used.insert(*next).second);
  }
  EXPECT_EQ(used.size(), 13u);  // 16 minus network, gateway and broadcast
}

}  // namespace
}  // namespace kapsel::network
