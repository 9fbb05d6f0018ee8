// Integration tests of seccomp on the real kernel: a busybox container launched through
// runtime::Launch with a filter, probing system calls with tests/helpers/seccomp_probe. They need
// root and /bin/busybox (static) and skip with the reason otherwise.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/launch.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/seccomp/default_profile.h"
#include "runtime/seccomp/docker_profile.h"
#include "runtime/seccomp/oci_json.h"
#include "runtime/spec.h"

namespace kapsel::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kBusybox[] = "/bin/busybox";

// Docker's default capabilities, which the default profile is resolved against.
const std::vector<std::string> kDockerCaps = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

class SeccompIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: creates namespaces and mounts";
    if (access(kBusybox, X_OK) != 0) {
      GTEST_SKIP() << kBusybox << " is missing: the test rootfs is made of a static busybox";
    }
    char tmpl[] = "/tmp/kapsel-seccomp-it-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    bundle_ = tmpl;
    rootfs_ = bundle_ + "/rootfs";
    for (const char* dir : {"", "/bin", "/proc", "/dev", "/tmp", "/mnt"}) {
      ASSERT_EQ(mkdir((rootfs_ + dir).c_str(), 0755), 0) << dir << ": " << strerror(errno);
    }
    fs::copy_file(kBusybox, rootfs_ + "/bin/busybox");
    fs::copy_file(KAPSEL_SECCOMP_PROBE_PATH, rootfs_ + "/bin/probe");
    ASSERT_EQ(chmod((rootfs_ + "/bin/busybox").c_str(), 0755), 0);
    ASSERT_EQ(chmod((rootfs_ + "/bin/probe").c_str(), 0755), 0);
    for (const char* applet : {"sh", "echo", "cat", "ls", "mkdir"}) {
      ASSERT_EQ(symlink("busybox", (rootfs_ + "/bin/" + applet).c_str()), 0) << applet;
    }
  }

  void TearDown() override {
    if (bundle_.empty()) return;
    std::error_code ec;
    fs::remove_all(bundle_, ec);
    EXPECT_FALSE(ec) << "remove " << bundle_ << ": " << ec.message();
  }

  // A container running `sh -c script` as root with Docker's capabilities and `seccomp`.
  json Config(const std::string& script, const json& seccomp, bool no_new_privs = true) const {
    json config = {
        {"ociVersion", "1.0.2"},
        {"root", {{"path", "rootfs"}}},
        {"process",
         {{"args", {"sh", "-c", script}},
          {"env", {"PATH=/bin"}},
          {"cwd", "/"},
          {"noNewPrivileges", no_new_privs},
          {"capabilities",
           {{"bounding", kDockerCaps},
            {"effective", kDockerCaps},
            {"permitted", kDockerCaps},
            {"inheritable", json::array()},
            {"ambient", json::array()}}}}},
        {"mounts", json::array({{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                                {{"destination", "/tmp"}, {"type", "tmpfs"}, {"source", "tmpfs"}},
                                {{"destination", "/dev"},
                                 {"type", "tmpfs"},
                                 {"source", "tmpfs"},
                                 {"options", {"nosuid", "mode=755"}}}})},
        {"linux",
         {{"namespaces", json::array({{{"type", "pid"}},
                                      {{"type", "mount"}},
                                      {{"type", "uts"}},
                                      {{"type", "ipc"}},
                                      {{"type", "network"}}})}}},
    };
    if (!seccomp.is_null()) config["linux"]["seccomp"] = seccomp;
    return config;
  }

  // Starts the container, collects its stdout and stderr until they close (20 s at most) and
  // reaps it.
  absl::Status Run(const json& config) {
    auto spec = ParseSpec(config.dump(), bundle_);
    if (!spec.ok()) return spec.status();
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
      return absl::ErrnoToStatus(errno, "pipe2");
    linux::UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
    linux::UniqueFd null(open("/dev/null", O_RDONLY | O_CLOEXEC));
    LaunchOptions options;
    options.container_id = "seccomp-it";
    options.stdin_fd = null.get();
    options.stdout_fd = out_w.get();
    options.stderr_fd = err_w.get();
    auto proc = Launch(*spec, options);
    if (!proc.ok()) return proc.status();
    out_w.Close();
    err_w.Close();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((out_r || err_r) && std::chrono::steady_clock::now() < deadline) {
      struct pollfd fds[2] = {{out_r ? out_r.get() : -1, POLLIN, 0},
                              {err_r ? err_r.get() : -1, POLLIN, 0}};
      if (poll(fds, 2, 1000) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        linux::UniqueFd& fd = i == 0 ? out_r : err_r;
        char buf[4096];
        ssize_t n = read(fd.get(), buf, sizeof(buf));
        if (n > 0) {
          (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          fd.Close();
        }
      }
    }
    if (out_r || err_r) syscall(SYS_pidfd_send_signal, proc->pidfd.get(), SIGKILL, nullptr, 0);
    while (waitid(P_PIDFD, static_cast<id_t>(proc->pidfd.get()), &info_, WEXITED) != 0 &&
           errno == EINTR) {
    }
    return absl::OkStatus();
  }

  bool ExitedWith(int code) const { return info_.si_code == CLD_EXITED && info_.si_status == code; }
  std::string Describe() const {
    return absl::StrCat("si_code=", info_.si_code, " si_status=", info_.si_status, "\nstdout:\n",
                        out_, "\nstderr:\n", err_);
  }
  bool Printed(const std::string& line) const {
    return absl::StrContains(absl::StrCat("\n", out_), absl::StrCat("\n", line, "\n"));
  }

  static json DefaultProfileJson() {
    auto config = seccomp::DefaultProfile(
        seccomp::HostEnvironment(std::set<std::string>(kDockerCaps.begin(), kDockerCaps.end())));
    EXPECT_TRUE(config.ok()) << config.status();
    return seccomp::ConfigToJson(*config);
  }

  std::string bundle_;
  std::string rootfs_;
  std::string out_;
  std::string err_;
  siginfo_t info_ = {};
};

TEST_F(SeccompIntegrationTest, DeniedSyscallsReturnTheConfiguredErrno) {
  json filter = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls",
       {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EACCES}},
        {{"names", {"personality"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"args", {{{"index", 0}, {"value", 0x20000}, {"op", "SCMP_CMP_EQ"}}}}}}}};
  ASSERT_TRUE(Run(Config("probe mkdir /tmp/x; probe personality 0x20000; probe personality 0; "
                         "probe getpid",
                         filter))
                  .ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_TRUE(Printed(absl::StrCat("mkdir ", EACCES))) << Describe();
  EXPECT_TRUE(Printed(absl::StrCat("personality ", EPERM))) << Describe();
  EXPECT_TRUE(Printed("personality 0")) << Describe();
  EXPECT_TRUE(Printed("getpid 0")) << Describe();
}

TEST_F(SeccompIntegrationTest, DefaultErrnoRetApplies) {
  json filter = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls",
       {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EROFS}}}}};
  ASSERT_TRUE(Run(Config("probe mkdir /tmp/y", filter)).ok());
  EXPECT_TRUE(Printed(absl::StrCat("mkdir ", EROFS))) << Describe();
}

TEST_F(SeccompIntegrationTest, KillActionKillsTheProcess) {
  json filter = {{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_KILL"}}}}};
  ASSERT_TRUE(Run(Config("probe mkdir /tmp/z; echo status $?", filter)).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  // The shell reports a child killed by SIGSYS as 128 + 31.
  EXPECT_TRUE(Printed(absl::StrCat("status ", 128 + SIGSYS))) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "mkdir ")) << Describe();
}

TEST_F(SeccompIntegrationTest, FilterIsActiveAfterExec) {
  json filter = {{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"flags", {"SECCOMP_FILTER_FLAG_LOG"}},
                 {"syscalls", {{{"names", {"acct"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  // The shell's own status: filter mode (2) after execve.
  ASSERT_TRUE(Run(Config("while read l; do case $l in Seccomp:*) echo $l;; esac; "
                         "done < /proc/self/status",
                         filter))
                  .ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_TRUE(Printed("Seccomp: 2")) << Describe();
}

TEST_F(SeccompIntegrationTest, DefaultProfileBlocksEscapesAndAllowsNormalWork) {
  ASSERT_TRUE(Run(Config("probe unshare-user; probe keyctl; probe mount; probe clone-newns; "
                         "probe clone3; probe clone-plain; probe personality 8; "
                         "probe personality 0x400000; mkdir /tmp/ok && ls / >/dev/null && "
                         "echo normal work",
                         DefaultProfileJson()))
                  .ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  for (const char* denied : {"unshare-user", "keyctl", "mount", "clone-newns"}) {
    EXPECT_TRUE(Printed(absl::StrCat(denied, " ", EPERM))) << denied << "\n" << Describe();
  }
  EXPECT_TRUE(Printed(absl::StrCat("clone3 ", ENOSYS))) << Describe();
  EXPECT_TRUE(Printed("clone-plain 0")) << Describe();
  EXPECT_TRUE(Printed("personality 0")) << Describe();  // PER_LINUX32 (8) is allowed
  EXPECT_TRUE(Printed(absl::StrCat("personality ", EPERM))) << Describe();
  EXPECT_TRUE(Printed("normal work")) << Describe();
}

TEST_F(SeccompIntegrationTest, WithoutNoNewPrivsTheFilterIsLoadedWhilePrivileged) {
  // Without no_new_privs, seccomp(2) needs CAP_SYS_ADMIN, which the container does not keep: the
  // filter must go in before the capabilities are dropped.
  ASSERT_TRUE(Run(Config("probe unshare-user; while read l; do case $l in Seccomp:*|NoNewPrivs:*) "
                         "echo $l;; esac; done < /proc/self/status",
                         DefaultProfileJson(), /*no_new_privs=*/false))
                  .ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_TRUE(Printed("Seccomp: 2")) << Describe();
  EXPECT_TRUE(Printed("NoNewPrivs: 0")) << Describe();
  EXPECT_TRUE(Printed(absl::StrCat("unshare-user ", EPERM))) << Describe();
}

TEST_F(SeccompIntegrationTest, DeniedExecveIsReportedAsTheExecStep) {
  json filter = {{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"syscalls", {{{"names", {"execve"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  absl::Status s = Run(Config("true", filter));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ExecErrno(s), EPERM) << s;
}

TEST_F(SeccompIntegrationTest, NotifyIsRefusedBeforeAnythingStarts) {
  json filter = {{"defaultAction", "SCMP_ACT_ALLOW"},
                 {"syscalls", {{{"names", {"mkdir"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  absl::Status s = Run(Config("true", filter));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
}

}  // namespace
}  // namespace kapsel::runtime
