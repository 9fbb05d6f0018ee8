#include "client/output.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

TEST(ShortIdTest, StripsPrefixAndCuts) {
  EXPECT_EQ(ShortId("sha256:0123456789abcdef0123"), "0123456789ab");
  EXPECT_EQ(ShortId("0123456789abcdef0123"), "0123456789ab");
  EXPECT_EQ(ShortId("abc"), "abc");
  EXPECT_EQ(ShortId(""), "");
}

TEST(HumanDurationTest, DockerUnits) {
  EXPECT_EQ(HumanDuration(absl::Milliseconds(300)), "Less than a second");
  EXPECT_EQ(HumanDuration(absl::Seconds(1)), "1 second");
  EXPECT_EQ(HumanDuration(absl::Seconds(3)), "3 seconds");
  EXPECT_EQ(HumanDuration(absl::Seconds(59)), "59 seconds");
  EXPECT_EQ(HumanDuration(absl::Seconds(60)), "About a minute");
  EXPECT_EQ(HumanDuration(absl::Seconds(119)), "About a minute");
  EXPECT_EQ(HumanDuration(absl::Minutes(5)), "5 minutes");
  EXPECT_EQ(HumanDuration(absl::Minutes(59)), "59 minutes");
  EXPECT_EQ(HumanDuration(absl::Minutes(60)), "About an hour");
  EXPECT_EQ(HumanDuration(absl::Minutes(89)), "About an hour");
  EXPECT_EQ(HumanDuration(absl::Hours(2)), "2 hours");
  EXPECT_EQ(HumanDuration(absl::Hours(47)), "47 hours");
  EXPECT_EQ(HumanDuration(absl::Hours(72)), "3 days");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 15)), "2 weeks");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 120)), "4 months");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 365 * 3)), "3 years");
}

TEST(TimeAgoTest, Ago) {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  EXPECT_EQ(TimeAgo(absl::ToUnixNanos(now - absl::Hours(2)), now), "2 hours ago");
  EXPECT_EQ(TimeAgo(0, now), "");
}

TEST(HumanSizeTest, DecimalThreeDigits) {
  EXPECT_EQ(HumanSize(0), "0B");
  EXPECT_EQ(HumanSize(512), "512B");
  EXPECT_EQ(HumanSize(999), "999B");
  EXPECT_EQ(HumanSize(1000), "1kB");
  EXPECT_EQ(HumanSize(4'200'000), "4.2MB");
  EXPECT_EQ(HumanSize(4'261'234), "4.26MB");
  EXPECT_EQ(HumanSize(1'230'000'000), "1.23GB");
  EXPECT_EQ(HumanSize(-5), "0B");
}

TEST(BinarySizeTest, BinaryUnits) {
  EXPECT_EQ(BinarySize(512), "512B");
  EXPECT_EQ(BinarySize(1024), "1KiB");
  EXPECT_EQ(BinarySize(int64_t{15872} << 20), "15.5GiB");
}

kapsel::v1::ContainerStatus Status(kapsel::v1::ContainerState state) {
  kapsel::v1::ContainerStatus status;
  status.set_state(state);
  return status;
}

TEST(StatusTextTest, States) {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  int64_t now_nanos = absl::ToUnixNanos(now);

  EXPECT_EQ(StatusText(Status(kapsel::v1::CONTAINER_STATE_CREATED), now), "Created");

  kapsel::v1::ContainerStatus running = Status(kapsel::v1::CONTAINER_STATE_RUNNING);
  running.set_started_at_unix_nanos(now_nanos - 3 * kSecond);
  EXPECT_EQ(StatusText(running, now), "Up 3 seconds");

  kapsel::v1::ContainerStatus paused = Status(kapsel::v1::CONTAINER_STATE_PAUSED);
  paused.set_started_at_unix_nanos(now_nanos - 2 * 3600 * kSecond);
  EXPECT_EQ(StatusText(paused, now), "Up 2 hours (Paused)");

  kapsel::v1::ContainerStatus exited = Status(kapsel::v1::CONTAINER_STATE_EXITED);
  exited.set_exit_code(3);
  exited.set_finished_at_unix_nanos(now_nanos - 5 * 60 * kSecond);
  EXPECT_EQ(StatusText(exited, now), "Exited (3) 5 minutes ago");

  kapsel::v1::ContainerStatus killed = Status(kapsel::v1::CONTAINER_STATE_EXITED);
  killed.set_exit_signal(9);
  EXPECT_EQ(StatusText(killed, now), "Exited (137)");

  EXPECT_EQ(StatusText(Status(kapsel::v1::CONTAINER_STATE_REMOVING), now), "Removal In Progress");
}

TEST(StateNameTest, Names) {
  EXPECT_EQ(StateName(kapsel::v1::CONTAINER_STATE_CREATED), "created");
  EXPECT_EQ(StateName(kapsel::v1::CONTAINER_STATE_RUNNING), "running");
  EXPECT_EQ(StateName(kapsel::v1::CONTAINER_STATE_PAUSED), "paused");
  EXPECT_EQ(StateName(kapsel::v1::CONTAINER_STATE_EXITED), "exited");
  EXPECT_EQ(StateName(kapsel::v1::CONTAINER_STATE_UNSPECIFIED), "unknown");
}

TEST(ExitCodeOfTest, SignalMapsTo128Plus) {
  EXPECT_EQ(ExitCodeOf(0, 0), 0);
  EXPECT_EQ(ExitCodeOf(3, 0), 3);
  EXPECT_EQ(ExitCodeOf(0, 15), 143);
  EXPECT_EQ(ExitCodeOf(137, 9), 137);
}

TEST(FormatRfc3339Test, Utc) {
  EXPECT_EQ(FormatRfc3339(1'700'000'000 * kSecond + 123), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatRfc3339(0), "");
  EXPECT_EQ(FormatRfc3339Nano(1'700'000'000 * kSecond + 123), "2023-11-14T22:13:20.000000123Z");
}

TEST(EllipsisTest, CutsByCodePoints) {
  EXPECT_EQ(Ellipsis("short", 20), "short");
  EXPECT_EQ(Ellipsis("12345678901234567890", 20), "12345678901234567890");
  EXPECT_EQ(Ellipsis("123456789012345678901", 20), "1234567890123456789…");
  EXPECT_EQ(DisplayWidth(Ellipsis("123456789012345678901", 20)), 20u);
  EXPECT_EQ(Ellipsis("äöüäöü", 4), "äöü…");
}

TEST(QuoteTest, EscapesLikeGo) {
  EXPECT_EQ(Quote("sh -c 'x'"), "\"sh -c 'x'\"");
  EXPECT_EQ(Quote("say \"hi\"\\n"), "\"say \\\"hi\\\"\\\\n\"");
  EXPECT_EQ(Quote("a\nb\tc"), "\"a\\nb\\tc\"");
  EXPECT_EQ(Quote(std::string("\x01", 1)), "\"\\x01\"");
}

TEST(CommandTextTest, TruncatesUnlessAsked) {
  std::vector<std::string> argv = {"sh", "-c", "while true; do sleep 1; done"};
  EXPECT_EQ(CommandText(argv, false), "\"sh -c while true; d…\"");
  EXPECT_EQ(CommandText({"sh", "-c", "echo hello world"}, false), "\"sh -c echo hello wo…\"");
  EXPECT_EQ(CommandText(argv, true), "\"sh -c while true; do sleep 1; done\"");
  EXPECT_EQ(CommandText({}, false), "\"\"");
}

TEST(SplitRepoTagTest, Forms) {
  EXPECT_EQ(SplitRepoTag("busybox:latest"),
            std::make_pair(std::string("busybox"), std::string("latest")));
  EXPECT_EQ(SplitRepoTag("localhost:5000/app:v1"),
            std::make_pair(std::string("localhost:5000/app"), std::string("v1")));
  EXPECT_EQ(SplitRepoTag("localhost:5000/app"),
            std::make_pair(std::string("localhost:5000/app"), std::string("")));
}

TEST(TableTest, AlignsColumnsLikeTabwriter) {
  Table table({"CONTAINER ID", "IMAGE", "NAMES"});
  table.AddRow({"0123456789ab", "busybox", "web"});
  table.AddRow({"ba9876543210", "alpine:3.19-long", "db"});
  EXPECT_EQ(table.Render(),
            "CONTAINER ID   IMAGE              NAMES\n"
            "0123456789ab   busybox            web\n"
            "ba9876543210   alpine:3.19-long   db\n");
}

TEST(TableTest, MinimumWidthAndUtf8) {
  Table table({"A", "B"});
  table.AddRow({"…x", "y"});
  EXPECT_EQ(table.Render(),
            "A         B\n"
            "…x        y\n");
}

TEST(TableTest, HeaderOnly) {
  Table table({"REPOSITORY", "TAG"});
  EXPECT_EQ(table.Render(), "REPOSITORY   TAG\n");
}

}  // namespace
}  // namespace kapsel::client
