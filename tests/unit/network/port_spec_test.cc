#include "runtime/network/port_spec.h"

#include "gtest/gtest.h"

namespace kapsel::network {
namespace {

PortMapping Parsed(const char* spec) {
  absl::StatusOr<PortMapping> m = ParsePortSpec(spec);
  EXPECT_TRUE(m.ok()) << spec << ": " << m.status();
  return m.ok() ? *m : PortMapping{};
}

TEST(ParsePortSpec, AcceptedForms) {
  EXPECT_EQ(Parsed("127.0.0.1:18080:80"), (PortMapping{"127.0.0.1", 18080, 80, Protocol::kTcp}));
  EXPECT_EQ(Parsed("8080:80"), (PortMapping{"", 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(Parsed("8080:80/tcp"), (PortMapping{"", 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(Parsed("5353:53/udp"), (PortMapping{"", 5353, 53, Protocol::kUdp}));
  EXPECT_EQ(Parsed("80"), (PortMapping{"", 0, 80, Protocol::kTcp}));
  EXPECT_EQ(Parsed("127.0.0.1::80/udp"), (PortMapping{"127.0.0.1", 0, 80, Protocol::kUdp}));
  EXPECT_EQ(Parsed("0.0.0.0:8080:80"), (PortMapping{"", 8080, 80, Protocol::kTcp}));
  EXPECT_EQ(Parsed("65535:1"), (PortMapping{"", 65535, 1, Protocol::kTcp}));
}

TEST(ParsePortSpec, ToStringRoundTrips) {
  for (const char* spec :
       {"127.0.0.1:18080:80/tcp", "8080:80/udp", "80/tcp", "127.0.0.1::80/tcp"}) {
    EXPECT_EQ(Parsed(spec).ToString(), spec);
  }
}

TEST(ParsePortSpec, ClearErrors) {
  struct Case {
    const char* spec;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "malformed -p \"\": empty port specification"},
           {"x", "malformed -p \"x\": container port \"x\" is not a port number 1-65535"},
           {"8080:", "malformed -p \"8080:\": container port is missing"},
           {":80", "malformed -p \":80\": host port is missing"},
           {"70000:80",
            "malformed -p \"70000:80\": host port \"70000\" is not a port number 1-65535"},
           {"8080:0", "malformed -p \"8080:0\": container port \"0\" is not a port number 1-65535"},
           {"8080:80/sctp",
            "malformed -p \"8080:80/sctp\": unknown protocol \"sctp\" (want tcp or udp)"},
           {"8080:80/", "malformed -p \"8080:80/\": unknown protocol \"\" (want tcp or udp)"},
           {"1.2.3:8080:80",
            "malformed -p \"1.2.3:8080:80\": host IP \"1.2.3\" is not an IPv4 address"},
           {":8080:80", "malformed -p \":8080:80\": host IP is empty"},
           {"a:b:c:d", "malformed -p \"a:b:c:d\": want [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|/udp]"},
           {"+80:80", "malformed -p \"+80:80\": host port \"+80\" is not a port number 1-65535"},
       }) {
    absl::StatusOr<PortMapping> m = ParsePortSpec(c.spec);
    ASSERT_FALSE(m.ok()) << c.spec;
    EXPECT_TRUE(absl::IsInvalidArgument(m.status())) << c.spec;
    EXPECT_EQ(m.status().message(), c.message);
  }
}

}  // namespace
}  // namespace kapsel::network
