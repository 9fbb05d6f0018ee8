#include "daemon/lifecycle_policy.h"

#include <signal.h>

#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using Kind = RestartPolicy::Kind;

TEST(RestartPolicyTest, ParsesEveryForm) {
  EXPECT_EQ(ParseRestartPolicy("")->kind, Kind::kNo);
  EXPECT_EQ(ParseRestartPolicy("no")->kind, Kind::kNo);
  EXPECT_EQ(ParseRestartPolicy("always")->kind, Kind::kAlways);
  EXPECT_EQ(ParseRestartPolicy("unless-stopped")->kind, Kind::kUnlessStopped);
  auto unlimited = ParseRestartPolicy("on-failure");
  ASSERT_TRUE(unlimited.ok());
  EXPECT_EQ(unlimited->kind, Kind::kOnFailure);
  EXPECT_EQ(unlimited->max_retries, 0);
  auto three = ParseRestartPolicy("on-failure:3");
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->max_retries, 3);
}

TEST(RestartPolicyTest, RefusesMalformedPolicies) {
  for (const char* bad : {"sometimes", "on-failure:", "on-failure:-1", "on-failure:x",
                          "on-failure:+3", "always:3", "No"}) {
    auto p = ParseRestartPolicy(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(bad), std::string::npos) << p.status();
  }
}

TEST(RestartPolicyTest, OnFailureCountsRestartsAndIgnoresSuccess) {
  auto p = *ParseRestartPolicy("on-failure:3");
  EXPECT_TRUE(p.ShouldRestart(1, 0, false));
  EXPECT_TRUE(p.ShouldRestart(1, 2, false));
  EXPECT_FALSE(p.ShouldRestart(1, 3, false));
  EXPECT_FALSE(p.ShouldRestart(0, 0, false));
  EXPECT_FALSE(p.ShouldRestart(1, 0, /*stopped_by_user=*/true));
  auto unlimited = *ParseRestartPolicy("on-failure");
  EXPECT_TRUE(unlimited.ShouldRestart(137, 1000, false));
}

TEST(RestartPolicyTest, AlwaysAndUnlessStoppedDifferOnlyAtDaemonStart) {
  auto always = *ParseRestartPolicy("always");
  auto unless = *ParseRestartPolicy("unless-stopped");
  EXPECT_TRUE(always.ShouldRestart(0, 50, false));
  EXPECT_TRUE(unless.ShouldRestart(0, 50, false));
  EXPECT_FALSE(always.ShouldRestart(0, 0, true));
  EXPECT_FALSE(unless.ShouldRestart(0, 0, true));
  EXPECT_TRUE(always.StartsWithDaemon(true));
  EXPECT_FALSE(unless.StartsWithDaemon(true));
  EXPECT_TRUE(unless.StartsWithDaemon(false));
  EXPECT_FALSE(ParseRestartPolicy("no")->StartsWithDaemon(false));
  EXPECT_FALSE(ParseRestartPolicy("on-failure")->StartsWithDaemon(false));
}

TEST(RestartPolicyTest, BackOffDoublesUpToAMinute) {
  EXPECT_EQ(RestartDelay(0), absl::Milliseconds(100));
  EXPECT_EQ(RestartDelay(1), absl::Milliseconds(200));
  EXPECT_EQ(RestartDelay(3), absl::Milliseconds(800));
  EXPECT_EQ(RestartDelay(9), absl::Milliseconds(51200));
  EXPECT_EQ(RestartDelay(10), absl::Minutes(1));
  EXPECT_EQ(RestartDelay(1000), absl::Minutes(1));
}

TEST(ParseSignalTest, NamesNumbersAndRealTime) {
  EXPECT_EQ(*ParseSignal("TERM"), SIGTERM);
  EXPECT_EQ(*ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("sigusr1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("15"), 15);
  EXPECT_EQ(*ParseSignal("SIGRTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(*ParseSignal("RTMAX-1"), SIGRTMAX - 1);
  for (const char* bad : {"NOPE", "0", "65", "RTMIN-1", "RTMAX+1", "RTMIN+", "-9"}) {
    EXPECT_FALSE(ParseSignal(bad).ok()) << bad;
  }
}

TEST(ContainerNameTest, DockerRules) {
  EXPECT_TRUE(ValidContainerName("web_1.a-b"));
  EXPECT_FALSE(ValidContainerName("_web"));
  EXPECT_FALSE(ValidContainerName("a/b"));
  EXPECT_FALSE(ValidContainerName(""));
  EXPECT_FALSE(ValidContainerName(std::string(129, 'a')));
}

}  // namespace
}  // namespace kapsel::daemon
