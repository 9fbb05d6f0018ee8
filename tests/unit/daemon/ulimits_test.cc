#include "daemon/ulimits.h"

#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

v1::Ulimit Ulimit(const std::string& name, int64_t soft, int64_t hard) {
  v1::Ulimit u;
  u.set_name(name);
  u.set_soft(soft);
  u.set_hard(hard);
  return u;
}

uint64_t FixedHardLimit(const std::string& type) {
  return type == "RLIMIT_NOFILE" ? 4096 : RLIM_INFINITY;
}

TEST(UlimitTextTest, DockerForms) {
  auto both = ParseUlimitText("nofile=1024:4096");
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(both->name(), "nofile");
  EXPECT_EQ(both->soft(), 1024);
  EXPECT_EQ(both->hard(), 4096);
  auto one = ParseUlimitText("core=-1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->soft(), -1);
  EXPECT_EQ(one->hard(), -1);
  for (const char* bad : {"nofile", "nofile=", "=1", "nofile=a", "nofile=1:2:3", "nofile=1:x"}) {
    auto u = ParseUlimitText(bad);
    EXPECT_FALSE(u.ok()) << bad;
    EXPECT_NE(u.status().message().find("NAME=SOFT[:HARD]"), std::string::npos) << u.status();
  }
}

TEST(ContainerRlimitsTest, RequestReplacesTheDefaultOfTheSameName) {
  const std::vector<ProcessRlimit> defaults = {{"RLIMIT_NOFILE", 1024, 2048},
                                               {"RLIMIT_CORE", 0, 0}};
  google::protobuf::RepeatedPtrField<v1::Ulimit> request;
  *request.Add() = Ulimit("nofile", 100, 200);
  *request.Add() = Ulimit("nproc", -1, -1);
  auto out = ContainerRlimits(defaults, request, /*can_raise=*/false, FixedHardLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ((*out)[0].soft, 100u);
  EXPECT_EQ((*out)[0].hard, 200u);
  EXPECT_EQ((*out)[1].type, "RLIMIT_CORE");
  EXPECT_EQ((*out)[2].type, "RLIMIT_NPROC");
  EXPECT_EQ((*out)[2].hard, RLIM_INFINITY);
}

TEST(ContainerRlimitsTest, BadUlimitsNameTheProblem) {
  struct Case {
    std::vector<v1::Ulimit> request;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{Ulimit("nofiles", 1, 1)}, "ulimit nofiles: unknown ulimit \"nofiles\"; known: as, core"},
      {{Ulimit("nofile", 10, 5)}, "ulimit nofile: nofile: soft limit 10 is above the hard limit 5"},
      {{Ulimit("nofile", -2, 5)}, "ulimit nofile: soft -2 is negative (-1 means unlimited)"},
      {{Ulimit("nofile", 1, 1), Ulimit("nofile", 2, 2)}, "ulimit nofile: given twice"},
      {{Ulimit("nofile", 1, 8192)},
       "ulimit nofile: hard limit 8192 is above the daemon's own hard limit 4096, and raising it "
       "needs CAP_SYS_RESOURCE"},
      {{Ulimit("nofile", 1, -1)}, "hard limit unlimited is above the daemon's own hard limit 4096"},
  };
  for (const Case& c : cases) {
    google::protobuf::RepeatedPtrField<v1::Ulimit> request(c.request.begin(), c.request.end());
    auto out = ContainerRlimits({}, request, /*can_raise=*/false, FixedHardLimit);
    ASSERT_FALSE(out.ok()) << c.want;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(out.status().message().find(c.want), std::string::npos) << out.status();
  }
  // With CAP_SYS_RESOURCE the daemon may raise a hard limit above its own.
  google::protobuf::RepeatedPtrField<v1::Ulimit> raise;
  *raise.Add() = Ulimit("nofile", 1, 8192);
  EXPECT_TRUE(ContainerRlimits({}, raise, /*can_raise=*/true, FixedHardLimit).ok());
}

TEST(ContainerRlimitsTest, DaemonHardLimitIsThisProcesssOwn) {
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(DaemonHardLimit("RLIMIT_NOFILE"), rl.rlim_max);
}

}  // namespace
}  // namespace kapsel::daemon
