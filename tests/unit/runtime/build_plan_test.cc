#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/cgroups/manager.h"
#include "runtime/launch.h"
#include "runtime/spec.h"

namespace kapsel::runtime {
namespace {

using nlohmann::json;

// BuildPlan needs a real rootfs directory and nothing else of the host.
class BuildPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kapsel-plan-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    bundle_ = tmpl;
    ASSERT_EQ(mkdir((bundle_ + "/rootfs").c_str(), 0755), 0);
    options_.container_id = "plan-test";
    options_.stdin_fd = 0;
    options_.stdout_fd = 1;
    options_.stderr_fd = 2;
  }

  void TearDown() override {
    if (!bundle_.empty()) std::filesystem::remove_all(bundle_);
  }

  json Config() const {
    return {
        {"ociVersion", "1.0.2"},
        {"root", {{"path", "rootfs"}}},
        {"process", {{"args", {"sh", "-c", "true"}}, {"env", {"PATH=/usr/bin:/bin"}}}},
        {"linux",
         {{"namespaces",
           {{{"type", "mount"}}, {{"type", "pid"}}, {{"type", "uts"}}, {{"type", "ipc"}}}}}},
    };
  }

  absl::StatusOr<ChildPlan> Plan(const json& config) {
    auto spec = ParseSpec(config.dump(), bundle_);
    if (!spec.ok()) return spec.status();
    return BuildPlan(*spec, options_);
  }

  std::string bundle_;
  LaunchOptions options_;
};

TEST_F(BuildPlanTest, DefaultDevicesArePresent) {
  auto plan = Plan(Config());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->rootfs, bundle_ + "/rootfs");
  EXPECT_TRUE(plan->new_mount_ns);
  EXPECT_FALSE(plan->new_user_ns);
  EXPECT_EQ(plan->root_propagation, static_cast<unsigned long>(MS_PRIVATE));
  struct Want {
    const char* target;
    unsigned major;
    unsigned minor;
  } want[] = {{"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
              {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
  for (const Want& w : want) {
    SCOPED_TRACE(w.target);
    auto it = std::find_if(plan->devices.begin(), plan->devices.end(),
                           [&](const DeviceStep& d) { return d.target == w.target; });
    ASSERT_NE(it, plan->devices.end());
    EXPECT_TRUE(S_ISCHR(it->mode));
    EXPECT_EQ(it->mode & 07777, 0666u);
    EXPECT_EQ(major(it->dev), w.major);
    EXPECT_EQ(minor(it->dev), w.minor);
    EXPECT_EQ(it->host_path, std::string("/") + w.target);
  }
  auto ptmx = std::find_if(plan->symlinks.begin(), plan->symlinks.end(),
                           [](const SymlinkStep& s) { return s.linkpath == "dev/ptmx"; });
  ASSERT_NE(ptmx, plan->symlinks.end());
  EXPECT_EQ(ptmx->target, "pts/ptmx");
}

TEST_F(BuildPlanTest, SpecDevicesFollowDefaults) {
  json config = Config();
  config["linux"]["devices"] = {
      {{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"fileMode", 0600}}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_FALSE(plan->devices.empty());
  const DeviceStep& fuse = plan->devices.back();
  EXPECT_EQ(fuse.target, "dev/fuse");
  EXPECT_EQ(fuse.mode, static_cast<mode_t>(S_IFCHR | 0600));
  EXPECT_EQ(major(fuse.dev), 10u);
  EXPECT_EQ(minor(fuse.dev), 229u);
}

TEST_F(BuildPlanTest, ExecCandidatesComeFromPath) {
  auto plan = Plan(Config());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->exec_candidates, (std::vector<std::string>{"/usr/bin/sh", "/bin/sh"}));
  ASSERT_EQ(plan->argv.size(), 4u);
  EXPECT_STREQ(plan->argv[0], "sh");
  EXPECT_STREQ(plan->argv[2], "true");
  EXPECT_EQ(plan->argv[3], nullptr);
  ASSERT_EQ(plan->envp.size(), 2u);
  EXPECT_STREQ(plan->envp[0], "PATH=/usr/bin:/bin");
  EXPECT_EQ(plan->envp[1], nullptr);
}

TEST_F(BuildPlanTest, ExecCandidatesWithoutPathUseDefaultPath) {
  json config = Config();
  config["process"]["env"] = {"HOME=/root"};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->exec_candidates.size(), 6u);
  EXPECT_EQ(plan->exec_candidates.front(), "/usr/local/sbin/sh");
  EXPECT_EQ(plan->exec_candidates.back(), "/bin/sh");
}

TEST_F(BuildPlanTest, ExecCandidateWithSlashIsUsedAsIs) {
  json config = Config();
  config["process"]["args"] = {"/opt/app/run", "--flag"};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->exec_candidates, (std::vector<std::string>{"/opt/app/run"}));
}

TEST_F(BuildPlanTest, CgroupMountOnV1ExpandsToTmpfsControllersAndRemount) {
  auto manager = cgroups::NewV1Manager(bundle_);
  options_.cgroups = manager.get();
  json config = Config();
  config["mounts"] = {{{"destination", "/sys/fs/cgroup"},
                       {"type", "cgroup"},
                       {"source", "cgroup"},
                       {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_GE(plan->mounts.size(), 2u);
  const MountStep& tmpfs = plan->mounts.front();
  EXPECT_EQ(tmpfs.fstype, "tmpfs");
  EXPECT_EQ(tmpfs.target, "sys/fs/cgroup");
  EXPECT_FALSE(tmpfs.remount_only);
  EXPECT_EQ(tmpfs.flags & MS_RDONLY, 0u) << "the tmpfs must stay writable for the mount points";
  const MountStep& remount = plan->mounts.back();
  EXPECT_TRUE(remount.remount_only);
  EXPECT_EQ(remount.target, "sys/fs/cgroup");
  EXPECT_NE(remount.remount_flags & MS_REMOUNT, 0u);
  EXPECT_NE(remount.remount_flags & MS_RDONLY, 0u);
  // One read-only cgroup v1 mount per controller the host has, between the two.
  size_t host_controllers = 0;
  for (const char* c :
       {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"}) {
    if (access((std::string("/sys/fs/cgroup/") + c).c_str(), F_OK) == 0) ++host_controllers;
  }
  EXPECT_EQ(plan->mounts.size(), host_controllers + 2);
  for (size_t i = 1; i + 1 < plan->mounts.size(); ++i) {
    const MountStep& cg = plan->mounts[i];
    SCOPED_TRACE(cg.display);
    EXPECT_EQ(cg.fstype, "cgroup");
    EXPECT_EQ(cg.target, "sys/fs/cgroup/" + cg.data);
    EXPECT_NE(cg.flags & MS_RDONLY, 0u);
    EXPECT_FALSE(cg.remount_only);
  }
}

TEST_F(BuildPlanTest, CgroupMountOnV2IsOneCgroup2Mount) {
  auto manager = cgroups::NewV2Manager(bundle_);
  options_.cgroups = manager.get();
  json config = Config();
  config["mounts"] = {{{"destination", "/sys/fs/cgroup"},
                       {"type", "cgroup"},
                       {"source", "cgroup"},
                       {"options", {"nosuid", "noexec", "nodev", "ro"}}}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->mounts.size(), 1u);
  EXPECT_EQ(plan->mounts[0].fstype, "cgroup2");
  EXPECT_EQ(plan->mounts[0].target, "sys/fs/cgroup");
  EXPECT_EQ(plan->mounts[0].flags,
            static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
}

TEST_F(BuildPlanTest, BindMountGetsReadOnlyRemount) {
  json config = Config();
  config["mounts"] = {{{"destination", "/data"},
                       {"type", "bind"},
                       {"source", bundle_},
                       {"options", {"rbind", "ro", "rprivate"}}},
                      {{"destination", "/etc/hostname"},
                       {"type", "bind"},
                       {"source", "/proc/self/status"},
                       {"options", {"bind"}}}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->mounts.size(), 2u);
  const MountStep& dir = plan->mounts[0];
  EXPECT_EQ(dir.target, "data");
  EXPECT_EQ(dir.flags, static_cast<unsigned long>(MS_BIND | MS_REC));
  EXPECT_EQ(dir.remount_flags, static_cast<unsigned long>(MS_BIND | MS_REMOUNT | MS_RDONLY));
  EXPECT_EQ(dir.propagation, static_cast<unsigned long>(MS_PRIVATE | MS_REC));
  EXPECT_FALSE(dir.file_target);
  const MountStep& file = plan->mounts[1];
  EXPECT_TRUE(file.file_target);
  EXPECT_EQ(file.remount_flags, 0u);
}

TEST_F(BuildPlanTest, RefusesBindMountOfMissingSource) {
  json config = Config();
  config["mounts"] = {
      {{"destination", "/data"}, {"type", "bind"}, {"source", bundle_ + "/does-not-exist"}}};
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(std::string(plan.status().message()).rfind("mounts[0].source: ", 0), 0u)
      << plan.status();
}

TEST_F(BuildPlanTest, RefusesBadMountOption) {
  json config = Config();
  config["mounts"] = {{{"destination", "/tmp"},
                       {"type", "tmpfs"},
                       {"source", "tmpfs"},
                       {"options", {"nosuid", "tmpcopyup"}}}};
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(std::string(plan.status().message()).rfind("mounts[0].options: ", 0), 0u)
      << plan.status();
}

TEST_F(BuildPlanTest, RefusesNonNamespacedSysctl) {
  json config = Config();
  config["linux"]["sysctl"] = {{"kernel.core_pattern", "|/tmp/x"}};
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "linux.sysctl.kernel.core_pattern: not a namespaced sysctl");
}

TEST_F(BuildPlanTest, RefusesNetSysctlWithoutNetworkNamespace) {
  json config = Config();
  config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "linux.sysctl.net.ipv4.ip_forward: needs a network namespace");

  config["linux"]["namespaces"].push_back({{"type", "network"}});
  auto with_netns = Plan(config);
  ASSERT_TRUE(with_netns.ok()) << with_netns.status();
  ASSERT_EQ(with_netns->sysctls.size(), 1u);
  EXPECT_EQ(with_netns->sysctls[0].path, "/proc/sys/net/ipv4/ip_forward");
  EXPECT_EQ(with_netns->sysctls[0].value, "1");
}

TEST_F(BuildPlanTest, AcceptsIpcSysctl) {
  json config = Config();
  config["linux"]["sysctl"] = {{"kernel.shmmax", "65536"}, {"fs.mqueue.msg_max", "20"}};
  auto plan = Plan(config);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->sysctls.size(), 2u);
  EXPECT_EQ(plan->sysctls[0].path, "/proc/sys/fs/mqueue/msg_max");
  EXPECT_EQ(plan->sysctls[1].path, "/proc/sys/kernel/shmmax");
}

TEST_F(BuildPlanTest, RequiresNewMountNamespace) {
  json config = Config();
  config["linux"]["namespaces"] = {{{"type", "pid"}}};
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(std::string(plan.status().message()).rfind("linux.namespaces: ", 0), 0u)
      << plan.status();
}

TEST_F(BuildPlanTest, RequiresStdioFds) {
  options_.stdout_fd = -1;
  auto plan = Plan(Config());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BuildPlanTest, RefusesMissingRootfs) {
  json config = Config();
  config["root"]["path"] = "missing";
  auto plan = Plan(config);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(std::string(plan.status().message()).rfind("root.path: ", 0), 0u) << plan.status();
}

TEST_F(BuildPlanTest, CgroupPathDefaultsToKapselId) {
  auto spec = ParseSpec(Config().dump(), bundle_);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(CgroupPathFor(*spec, "abc"), "kapsel/abc");
  spec->cgroups_path = "/custom/c1";
  EXPECT_EQ(CgroupPathFor(*spec, "abc"), "custom/c1");
}

}  // namespace
}  // namespace kapsel::runtime
