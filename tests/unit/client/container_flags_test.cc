#include "client/commands/container_flags.h"

#include <algorithm>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

// Parses `args` (after "run") as the run subcommand would.
class ContainerFlagsTest : public ::testing::Test {
 protected:
  void Parse(std::vector<std::string> args) {
    CLI::App* run = app_.add_subcommand("run");
    AddContainerFlags(run, &options_);
    args.insert(args.begin(), "run");
    std::reverse(args.begin(), args.end());
    app_.parse(args);
  }

  CLI::App app_;
  ContainerOptions options_;
};

TEST_F(ContainerFlagsTest, CommandAfterImageKeepsItsFlags) {
  Parse({"--rm", "-e", "A=1", "busybox", "sh", "-c", "echo -n x"});
  EXPECT_EQ(options_.image, "busybox");
  EXPECT_EQ(options_.command, (std::vector<std::string>{"sh", "-c", "echo -n x"}));
  EXPECT_TRUE(options_.auto_remove);
  EXPECT_EQ(options_.env, (std::vector<std::string>{"A=1"}));
}

TEST_F(ContainerFlagsTest, OptionLikeArgumentsRightAfterImage) {
  Parse({"busybox", "-l", "--rm", "--", "-e", "X=1"});
  EXPECT_EQ(options_.image, "busybox");
  EXPECT_EQ(options_.command, (std::vector<std::string>{"-l", "--rm", "--", "-e", "X=1"}));
  EXPECT_FALSE(options_.auto_remove);
  EXPECT_TRUE(options_.env.empty());
  EXPECT_TRUE(options_.labels.empty());
}

TEST_F(ContainerFlagsTest, LsDashL) {
  Parse({"-l", "a=b", "busybox", "ls", "-l", "/"});
  EXPECT_EQ(options_.labels, (std::vector<std::string>{"a=b"}));
  EXPECT_EQ(options_.command, (std::vector<std::string>{"ls", "-l", "/"}));
}

TEST_F(ContainerFlagsTest, RepeatedFlagsTakeOneValueEach) {
  Parse({"-e", "A=1", "-e", "B", "--env", "C=3", "-l", "x=1", "--label", "y", "busybox"});
  EXPECT_EQ(options_.env, (std::vector<std::string>{"A=1", "B", "C=3"}));
  EXPECT_EQ(options_.labels, (std::vector<std::string>{"x=1", "y"}));
  EXPECT_EQ(options_.image, "busybox");
  EXPECT_TRUE(options_.command.empty());
}

TEST_F(ContainerFlagsTest, AllFlags) {
  Parse({"--name",       "web",       "-w",   "/srv", "--hostname",   "h",   "-u",           "1000",
         "--entrypoint", "/init",     "-m",   "100m", "--cpus",       "0.5", "--pids-limit", "64",
         "--read-only",  "--network", "none", "-it",  "busybox:1.36", "top"});
  EXPECT_EQ(options_.name, "web");
  EXPECT_EQ(options_.working_dir, "/srv");
  EXPECT_EQ(options_.hostname, "h");
  EXPECT_EQ(options_.user, "1000");
  EXPECT_EQ(options_.entrypoint, "/init");
  EXPECT_EQ(options_.memory, "100m");
  EXPECT_EQ(options_.cpus, "0.5");
  EXPECT_EQ(options_.pids_limit, 64);
  EXPECT_TRUE(options_.read_only);
  EXPECT_EQ(options_.network, "none");
  EXPECT_TRUE(options_.interactive);
  EXPECT_TRUE(options_.tty);
  EXPECT_EQ(options_.image, "busybox:1.36");
  EXPECT_EQ(options_.command, (std::vector<std::string>{"top"}));
}

TEST_F(ContainerFlagsTest, MissingImageIsAUsageError) {
  EXPECT_THROW(Parse({"--rm"}), CLI::RequiredError);
}

TEST_F(ContainerFlagsTest, UnknownFlagBeforeImageIsAUsageError) {
  EXPECT_THROW(Parse({"--bogus", "busybox"}), CLI::ParseError);
}

TEST_F(ContainerFlagsTest, NonNumericPidsLimitIsAUsageError) {
  EXPECT_THROW(Parse({"--pids-limit", "many", "busybox"}), CLI::ParseError);
}

}  // namespace
}  // namespace kapsel::client
