// Runs the built kapselctl binary: the one test that covers main.cc and the real process exit.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Result RunShell(const std::string& command) {
  Result result;
  std::FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  int status = pclose(pipe);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

TEST(KapselctlBinaryTest, MissingSocketExits125WithOneLine) {
  std::string socket = ::testing::TempDir() + "/kapselctl-no-such-dir/kapsel.sock";
  Result result = RunShell("KAPSEL_SOCKET=" + socket + " " KAPSELCTL_PATH " ps");
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.output,
            "kapselctl: cannot connect to kapseld at " + socket + ": No such file or directory\n");
}

TEST(KapselctlBinaryTest, SocketFlagWinsOverEnvironment) {
  Result result = RunShell("KAPSEL_SOCKET=/nonexistent/env.sock " KAPSELCTL_PATH
                           " --socket /nonexistent/flag.sock version");
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.output.find("Version:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("kapselctl: cannot connect to kapseld at /nonexistent/flag.sock: "),
            std::string::npos)
      << result.output;
}

TEST(KapselctlBinaryTest, UnknownFlagExits125) {
  Result result = RunShell(KAPSELCTL_PATH " ps --bogus");
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_NE(result.output.find("--bogus"), std::string::npos) << result.output;
}

TEST(KapselctlBinaryTest, HelpExits0) {
  Result result = RunShell(KAPSELCTL_PATH " --help");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("run"), std::string::npos) << result.output;
}

TEST(KapselctlBinaryTest, UnreadableImportFileExits125BeforeConnecting) {
  Result result = RunShell("KAPSEL_SOCKET=/nonexistent/k.sock " KAPSELCTL_PATH
                           " import /nonexistent/rootfs.tar busybox");
  EXPECT_EQ(result.exit_code, 125);
  EXPECT_EQ(result.output, "kapselctl: open /nonexistent/rootfs.tar: No such file or directory\n");
}

}  // namespace
