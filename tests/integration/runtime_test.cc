// Integration tests of the runtime core on the real kernel: a busybox container launched through
// runtime::Launch with a real cgroup manager. They need root and /bin/busybox (a static build, as
// Debian's busybox-static ships) and skip with the reason otherwise.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/cgroups/manager.h"
#include "runtime/launch.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/linux/userns.h"
#include "runtime/spec.h"

namespace kapsel::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr char kBusybox[] = "/bin/busybox";
constexpr char kHostname[] = "kapsel-it";
constexpr char kDomainname[] = "kapsel.test";
constexpr int64_t kMiB = 1024 * 1024;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Readlink(const std::string& path) {
  char buf[256];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

struct MountEntry {
  std::string root;         // the mounted directory inside its filesystem
  std::string mount_point;  // where it is mounted
};

// proc(5), /proc/pid/mountinfo: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 ...".
std::vector<MountEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    out.push_back({fields[3], fields[4]});
  }
  return out;
}

std::vector<std::string> HostMountPointsUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const MountEntry& m : ParseMountInfo(ReadText("/proc/self/mountinfo"))) {
    if (m.mount_point == dir || absl::StartsWith(m.mount_point, dir + "/")) {
      out.push_back(m.mount_point);
    }
  }
  return out;
}

size_t CountLines(const std::string& text, absl::string_view line) {
  size_t n = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    if (l == line) ++n;
  }
  return n;
}

json Sh(const std::string& script) { return json::array({"sh", "-c", script}); }

class RuntimeIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: creates namespaces, mounts and cgroups";
    if (access(kBusybox, X_OK) != 0) {
      GTEST_SKIP() << kBusybox << " is missing: the test rootfs is made of a static busybox";
    }
    auto manager = cgroups::NewManager();
    if (!manager.ok()) GTEST_SKIP() << "no usable cgroup hierarchy: " << manager.status();
    manager_ = std::move(*manager);
    static int counter = 0;
    id_ = absl::StrCat("it-", getpid(), "-", ++counter);
    cgroup_path_ = absl::StrCat("kapsel/", id_);

    char tmpl[] = "/tmp/kapsel-it-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    bundle_ = tmpl;
    // Searchable by everyone: a user-namespaced container's root is an unprivileged uid outside.
    ASSERT_EQ(chmod(bundle_.c_str(), 0755), 0);
    rootfs_ = bundle_ + "/rootfs";
    for (const char* dir : {"", "/bin", "/proc", "/sys", "/dev", "/etc", "/tmp", "/mnt"}) {
      ASSERT_EQ(mkdir((rootfs_ + dir).c_str(), 0755), 0) << dir << ": " << strerror(errno);
    }
    ASSERT_EQ(chmod((rootfs_ + "/tmp").c_str(), 01777), 0);
    fs::copy_file(kBusybox, rootfs_ + "/bin/busybox");
    ASSERT_EQ(chmod((rootfs_ + "/bin/busybox").c_str(), 0755), 0);
    for (const char* applet : {"sh", "echo", "cat", "hostname", "ps", "ls", "mount", "id", "sleep",
                               "dd", "head", "wc", "mknod", "ln", "readlink", "stat", "grep"}) {
      ASSERT_EQ(symlink("busybox", (rootfs_ + "/bin/" + applet).c_str()), 0) << applet;
    }
  }

  void TearDown() override {
    if (bundle_.empty()) return;
    if (proc_ && !exited_) {
      syscall(SYS_pidfd_send_signal, proc_->pidfd.get(), SIGKILL, nullptr, 0);
      siginfo_t info = {};
      while (waitid(P_PIDFD, static_cast<id_t>(proc_->pidfd.get()), &info, WEXITED) != 0 &&
             errno == EINTR) {
      }
    }
    proc_.reset();
    absl::Status destroyed = manager_->Destroy(cgroup_path_);
    EXPECT_TRUE(destroyed.ok()) << destroyed;
    ExpectNoCgroup();
    // The container's mounts live in its own mount namespace. One under the bundle in the host's
    // namespace would be a leak, and removing the tree through it could delete host files.
    for (const std::string& leaked : HostMountPointsUnder(bundle_)) {
      ADD_FAILURE() << "mount leaked into the host: " << leaked;
      umount2(leaked.c_str(), MNT_DETACH);
    }
    std::error_code ec;
    fs::remove_all(bundle_, ec);
    EXPECT_FALSE(ec) << "remove " << bundle_ << ": " << ec.message();
  }

  // No directory of the container's cgroup, in any hierarchy.
  void ExpectNoCgroup() {
    EXPECT_FALSE(manager_->Exists(cgroup_path_)) << cgroup_path_;
    if (manager_->mode() == cgroups::Mode::kV1) {
      for (const char* c : {"memory", "pids", "cpu", "devices"}) {
        std::string dir = absl::StrCat("/sys/fs/cgroup/", c, "/", cgroup_path_);
        EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir << " was left behind";
      }
    }
  }

  json Config(const json& args) const {
    return {
        {"ociVersion", "1.0.2"},
        {"root", {{"path", "rootfs"}}},
        {"process", {{"args", args}, {"env", {"PATH=/bin"}}, {"cwd", "/"}}},
        {"hostname", kHostname},
        {"domainname", kDomainname},
        {"mounts", json::array({
                       {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                       {{"destination", "/dev"},
                        {"type", "tmpfs"},
                        {"source", "tmpfs"},
                        {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
                       {{"destination", "/dev/pts"},
                        {"type", "devpts"},
                        {"source", "devpts"},
                        {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666"}}},
                       {{"destination", "/dev/shm"},
                        {"type", "tmpfs"},
                        {"source", "shm"},
                        {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
                       {{"destination", "/sys"},
                        {"type", "sysfs"},
                        {"source", "sysfs"},
                        {"options", {"nosuid", "noexec", "nodev", "ro"}}},
                   })},
        {"linux",
         {{"namespaces", json::array({{{"type", "pid"}},
                                      {{"type", "mount"}},
                                      {{"type", "uts"}},
                                      {{"type", "ipc"}},
                                      {{"type", "network"}},
                                      {{"type", "cgroup"}}})}}},
    };
  }

  // Parses the config against the bundle and starts it with stdin, stdout and stderr on pipes.
  absl::Status Start(const json& config) {
    auto spec = ParseSpec(config.dump(), bundle_);
    if (!spec.ok()) return spec.status();
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
      return absl::ErrnoToStatus(errno, "pipe2");
    }
    linux::UniqueFd in_r(in[0]), out_w(out[1]), err_w(err[1]);
    in_w_.Reset(in[1]);
    out_r_.Reset(out[0]);
    err_r_.Reset(err[0]);
    LaunchOptions options;
    options.container_id = id_;
    options.stdin_fd = in_r.get();
    options.stdout_fd = out_w.get();
    options.stderr_fd = err_w.get();
    options.cgroups = manager_.get();
    auto proc = Launch(*spec, options);
    if (!proc.ok()) return proc.status();
    EXPECT_EQ(proc->cgroup_path, cgroup_path_);
    proc_ = std::move(*proc);
    return absl::OkStatus();
  }

  // Reads output and reaps the init for up to `timeout_ms`, or until something happened.
  void Pump(int timeout_ms) {
    struct pollfd fds[3] = {{out_r_ ? out_r_.get() : -1, POLLIN, 0},
                            {err_r_ ? err_r_.get() : -1, POLLIN, 0},
                            {exited_ ? -1 : proc_->pidfd.get(), POLLIN, 0}};
    int n = poll(fds, 3, timeout_ms);
    if (n <= 0) return;
    auto drain = [](linux::UniqueFd& fd, std::string& into) {
      char buf[4096];
      ssize_t got = read(fd.get(), buf, sizeof(buf));
      if (got > 0) {
        into.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fd.Close();
      }
    };
    if (fds[0].revents != 0) drain(out_r_, out_);
    if (fds[1].revents != 0) drain(err_r_, err_);
    if (fds[2].revents != 0 &&
        waitid(P_PIDFD, static_cast<id_t>(proc_->pidfd.get()), &info_, WEXITED) == 0) {
      exited_ = true;
    }
  }

  static int RemainingMs(steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
  }

  // Reads until stdout contains `needle`; false on timeout or when the container is gone.
  bool ReadUntil(const std::string& needle, milliseconds timeout) {
    auto deadline = steady_clock::now() + timeout;
    while (!absl::StrContains(out_, needle)) {
      if (steady_clock::now() >= deadline || (exited_ && !out_r_)) return false;
      Pump(RemainingMs(deadline));
    }
    return true;
  }

  // Closes stdin and waits for the init to exit and the pipes to reach EOF. An init still running
  // at the timeout is killed, and the test fails.
  void Wait(seconds timeout = seconds(30)) {
    in_w_.Close();
    auto deadline = steady_clock::now() + timeout;
    while (!exited_ && steady_clock::now() < deadline) Pump(RemainingMs(deadline));
    if (!exited_) {
      ADD_FAILURE() << "container still running after " << timeout.count() << " s; killing it";
      syscall(SYS_pidfd_send_signal, proc_->pidfd.get(), SIGKILL, nullptr, 0);
      while (!exited_) Pump(1000);
    }
    // The rest of the pid namespace dies with its init, so the pipes close right after.
    auto eof_deadline = steady_clock::now() + seconds(5);
    while ((out_r_ || err_r_) && steady_clock::now() < eof_deadline) {
      Pump(RemainingMs(eof_deadline));
    }
  }

  absl::Status Run(const json& config, seconds timeout = seconds(30)) {
    if (auto s = Start(config); !s.ok()) return s;
    Wait(timeout);
    return absl::OkStatus();
  }

  bool ExitedWith(int code) const { return info_.si_code == CLD_EXITED && info_.si_status == code; }
  bool KilledBy(int sig) const {
    return (info_.si_code == CLD_KILLED || info_.si_code == CLD_DUMPED) && info_.si_status == sig;
  }
  std::string Describe() const {
    return absl::StrCat("si_code=", info_.si_code, " si_status=", info_.si_status, "\nstdout:\n",
                        out_, "\nstderr:\n", err_);
  }

  std::unique_ptr<cgroups::Manager> manager_;
  std::string id_;
  std::string cgroup_path_;
  std::string bundle_;
  std::string rootfs_;
  std::optional<LaunchedProcess> proc_;
  linux::UniqueFd in_w_;
  linux::UniqueFd out_r_;
  linux::UniqueFd err_r_;
  std::string out_;
  std::string err_;
  bool exited_ = false;
  siginfo_t info_ = {};
};

TEST_F(RuntimeIntegrationTest, InitIsPidOne) {
  ASSERT_TRUE(Run(Config(Sh("echo $$"))).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_EQ(out_, "1\n") << Describe();
}

TEST_F(RuntimeIntegrationTest, PsShowsOnlyContainerProcesses) {
  ASSERT_TRUE(Run(Config(Sh("sleep 30 & ps; kill $!"))).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  std::vector<std::string> lines = absl::StrSplit(out_, '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty()) << Describe();
  EXPECT_TRUE(absl::StrContains(lines[0], "PID")) << Describe();
  // sh (the init), sleep and ps itself; nothing of the host.
  std::set<int> pids;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> fields = absl::StrSplit(lines[i], ' ', absl::SkipEmpty());
    int pid = 0;
    ASSERT_TRUE(!fields.empty() && absl::SimpleAtoi(fields[0], &pid)) << lines[i];
    pids.insert(pid);
  }
  EXPECT_EQ(pids.size(), 3u) << Describe();
  EXPECT_TRUE(pids.contains(1)) << Describe();
  for (int pid : pids) EXPECT_LT(pid, 10) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "sleep 30")) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "runtime_integration_tests")) << Describe();
}

TEST_F(RuntimeIntegrationTest, HostnameAndDomainnameAreIsolated) {
  char host_name[256] = {};
  char host_domain[256] = {};
  ASSERT_EQ(gethostname(host_name, sizeof(host_name) - 1), 0);
  ASSERT_EQ(getdomainname(host_domain, sizeof(host_domain) - 1), 0);
  ASSERT_NE(std::string(host_name), kHostname);
  ASSERT_NE(std::string(host_domain), kDomainname);

  ASSERT_TRUE(Run(Config(Sh("hostname; cat /proc/sys/kernel/domainname"))).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_EQ(out_, absl::StrCat(kHostname, "\n", kDomainname, "\n")) << Describe();

  char after_name[256] = {};
  char after_domain[256] = {};
  ASSERT_EQ(gethostname(after_name, sizeof(after_name) - 1), 0);
  ASSERT_EQ(getdomainname(after_domain, sizeof(after_domain) - 1), 0);
  EXPECT_STREQ(after_name, host_name);
  EXPECT_STREQ(after_domain, host_domain);
}

TEST_F(RuntimeIntegrationTest, NamespacesDifferFromTheHost) {
  const std::vector<std::string> kinds = {"ipc", "uts", "net", "pid", "mnt", "cgroup"};
  ASSERT_TRUE(
      Run(Config(Sh("for n in ipc uts net pid mnt cgroup; do readlink /proc/self/ns/$n; done")))
          .ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  std::vector<std::string> inside = absl::StrSplit(out_, '\n', absl::SkipEmpty());
  ASSERT_EQ(inside.size(), kinds.size()) << Describe();
  for (size_t i = 0; i < kinds.size(); ++i) {
    std::string host = Readlink("/proc/self/ns/" + kinds[i]);
    ASSERT_TRUE(absl::StartsWith(host, kinds[i] + ":[")) << host;
    EXPECT_TRUE(absl::StartsWith(inside[i], kinds[i] + ":[")) << inside[i];
    EXPECT_NE(inside[i], host) << kinds[i] << " namespace is the host's";
  }
}

TEST_F(RuntimeIntegrationTest, MountinfoShowsOnlyContainerMounts) {
  ASSERT_TRUE(Run(Config(Sh("cat /proc/self/mountinfo"))).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  std::vector<MountEntry> mounts = ParseMountInfo(out_);
  const std::set<std::string> expected = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys"};
  std::set<std::string> seen;
  for (const MountEntry& m : mounts) {
    EXPECT_TRUE(expected.contains(m.mount_point)) << "unexpected mount " << m.mount_point;
    seen.insert(m.mount_point);
    if (m.mount_point == "/") {
      // The root is the rootfs directory (bind-mounted onto itself), not the host's root.
      EXPECT_TRUE(absl::EndsWith(m.root, fs::path(bundle_).filename().string() + "/rootfs"))
          << m.root;
    }
  }
  EXPECT_EQ(seen, expected) << Describe();
  EXPECT_EQ(mounts.size(), expected.size()) << Describe();
}

TEST_F(RuntimeIntegrationTest, ExitCodeIsPassedBack) {
  ASSERT_TRUE(Run(Config(Sh("exit 3"))).ok());
  EXPECT_TRUE(ExitedWith(3)) << Describe();
}

// The init of a pid namespace cannot be sent SIGKILL from inside it (pid_namespaces(7)), so the
// shell kills itself in the host's pid namespace here.
TEST_F(RuntimeIntegrationTest, SignalIsPassedBack) {
  json config = Config(Sh("kill -9 $$; echo survived"));
  json& namespaces = config["linux"]["namespaces"];
  namespaces.erase(namespaces.begin());
  ASSERT_EQ(config["linux"]["namespaces"][0]["type"], "mount");
  ASSERT_TRUE(Run(config).ok());
  EXPECT_TRUE(KilledBy(SIGKILL)) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "survived")) << Describe();
}

TEST_F(RuntimeIntegrationTest, SignalFromHostReachesInit) {
  ASSERT_TRUE(Start(Config(Sh("echo ready; sleep 60"))).ok());
  ASSERT_TRUE(ReadUntil("ready", seconds(10))) << Describe();
  ASSERT_EQ(syscall(SYS_pidfd_send_signal, proc_->pidfd.get(), SIGKILL, nullptr, 0), 0);
  Wait();
  EXPECT_TRUE(KilledBy(SIGKILL)) << Describe();
}

TEST_F(RuntimeIntegrationTest, SymlinkAtMountTargetDoesNotEscapeRootfs) {
  const std::string name = absl::StrCat("kapsel-escape-", id_);
  const std::string host_dir = bundle_ + "/hostdir";
  const std::string bind_src = bundle_ + "/bindsrc";
  ASSERT_EQ(mkdir(host_dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(bind_src.c_str(), 0755), 0);
  std::ofstream(bind_src + "/marker") << "from-bind\n";
  ASSERT_EQ(symlink("/", (rootfs_ + "/mnt/root").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (rootfs_ + "/mnt/etc").c_str()), 0);
  ASSERT_EQ(symlink(host_dir.c_str(), (rootfs_ + "/evil").c_str()), 0);
  // The link's target exists both on the host and inside the rootfs: only the resolution decides
  // where the mount goes.
  ASSERT_TRUE(fs::create_directories(rootfs_ + host_dir));
  ASSERT_NE(access(("/" + name).c_str(), F_OK), 0);
  ASSERT_NE(access(("/etc/" + name).c_str(), F_OK), 0);
  const std::string host_mounts_before = ReadText("/proc/self/mountinfo");

  json config = Config(Sh(absl::StrCat("cat /proc/self/mountinfo; cat /evil/", name, "/marker")));
  config["mounts"].push_back({{"destination", "/mnt/root/" + name},
                              {"type", "tmpfs"},
                              {"source", "tmpfs"},
                              {"options", {"size=1m"}}});
  config["mounts"].push_back({{"destination", "/mnt/etc/" + name},
                              {"type", "tmpfs"},
                              {"source", "tmpfs"},
                              {"options", {"size=1m"}}});
  config["mounts"].push_back({{"destination", "/evil/" + name},
                              {"type", "bind"},
                              {"source", bind_src},
                              {"options", {"bind", "ro"}}});
  absl::Status run = Run(config);

  // Whatever happened, nothing may have been created on the host; remove it if it was.
  bool made_in_root = rmdir(("/" + name).c_str()) == 0;
  bool made_in_etc = rmdir(("/etc/" + name).c_str()) == 0;
  EXPECT_FALSE(made_in_root) << "a mount point was created in the host's /";
  EXPECT_FALSE(made_in_etc) << "a mount point was created in the host's /etc";
  EXPECT_TRUE(fs::is_empty(host_dir)) << "a mount point was created in " << host_dir;
  EXPECT_EQ(ReadText("/proc/self/mountinfo"), host_mounts_before);

  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  // The mounts landed inside the rootfs, where the symlinks resolve when / is the rootfs.
  std::set<std::string> points;
  for (const MountEntry& m : ParseMountInfo(out_)) points.insert(m.mount_point);
  EXPECT_TRUE(points.contains("/" + name)) << Describe();
  EXPECT_TRUE(points.contains("/etc/" + name)) << Describe();
  EXPECT_TRUE(points.contains(host_dir + "/" + name)) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "from-bind")) << Describe();
  EXPECT_TRUE(fs::is_directory(rootfs_ + "/" + name));
  EXPECT_TRUE(fs::is_directory(rootfs_ + "/etc/" + name));
  EXPECT_TRUE(fs::is_directory(rootfs_ + host_dir + "/" + name));
}

// "ro" on an rbind covers only the top mount; "rro" reaches the submounts too (mount_setattr
// AT_RECURSIVE), so a tmpfs mounted below the source cannot be written either.
TEST_F(RuntimeIntegrationTest, RecursiveReadOnlyBindCoversSubmounts) {
  const std::string src = bundle_ + "/rro-src";
  ASSERT_TRUE(fs::create_directories(src + "/sub"));
  ASSERT_EQ(mount("tmpfs", (src + "/sub").c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
  auto unmount = absl::MakeCleanup([&] { umount2((src + "/sub").c_str(), MNT_DETACH); });
  const std::string script =
      "touch /a/sub/x 2>/dev/null && echo a-writable || echo a-readonly;"
      "touch /b/sub/x 2>/dev/null && echo b-writable || echo b-readonly;"
      "touch /b/top 2>/dev/null && echo b-top-writable || echo b-top-readonly";
  json config = Config(Sh(script));
  config["mounts"].push_back(
      {{"destination", "/a"}, {"type", "bind"}, {"source", src}, {"options", {"rbind", "ro"}}});
  config["mounts"].push_back(
      {{"destination", "/b"}, {"type", "bind"}, {"source", src}, {"options", {"rbind", "rro"}}});
  ASSERT_TRUE(Run(config).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "a-writable")) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "b-readonly")) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "b-top-readonly")) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "b-writable")) << Describe();
  // The host's own submount stays writable: the attribute was set on the container's copy.
  std::ofstream(src + "/sub/host-write") << "x";
  EXPECT_TRUE(fs::exists(src + "/sub/host-write"));
}

// A symlink to a host directory that does not exist inside the rootfs dangles once resolved in
// the root: the launch is refused instead of creating anything on the host.
TEST_F(RuntimeIntegrationTest, DanglingSymlinkToHostDirIsRefused) {
  const std::string host_dir = bundle_ + "/hostdir";
  ASSERT_EQ(mkdir(host_dir.c_str(), 0755), 0);
  ASSERT_EQ(symlink(host_dir.c_str(), (rootfs_ + "/evil").c_str()), 0);
  const std::string host_mounts_before = ReadText("/proc/self/mountinfo");
  json config = Config(Sh("true"));
  config["mounts"].push_back({{"destination", "/evil/x"},
                              {"type", "tmpfs"},
                              {"source", "tmpfs"},
                              {"options", {"size=1m"}}});
  absl::Status s = Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "tmpfs on /evil/x")) << s;
  EXPECT_TRUE(fs::is_empty(host_dir)) << "a mount point was created in " << host_dir;
  EXPECT_EQ(ReadText("/proc/self/mountinfo"), host_mounts_before);
  ExpectNoCgroup();
}

TEST_F(RuntimeIntegrationTest, MemoryLimitKillsAllocator) {
  if (access(KAPSEL_MEMHOG_PATH, X_OK) != 0) GTEST_SKIP() << KAPSEL_MEMHOG_PATH << " not built";
  if (manager_->mode() == cgroups::Mode::kV1 &&
      access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) != 0) {
    GTEST_SKIP() << "no swap accounting (memory.memsw.*): swap cannot be limited on this host";
  }
  fs::copy_file(KAPSEL_MEMHOG_PATH, rootfs_ + "/bin/memhog");
  ASSERT_EQ(chmod((rootfs_ + "/bin/memhog").c_str(), 0755), 0);
  // 10 MiB a second, as in the classic demonstration: about ten seconds to the limit.
  json config = Config(json::array({"/bin/memhog", "10", "1000"}));
  config["linux"]["resources"] = {{"memory", {{"limit", 100 * kMiB}, {"swap", 100 * kMiB}}}};

  ASSERT_TRUE(Run(config, seconds(60)).ok());
  EXPECT_TRUE(KilledBy(SIGKILL)) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "done")) << Describe();
  // Each line is a step of 10 MiB that was allocated and touched.
  int last_step = 0;
  for (absl::string_view line : absl::StrSplit(out_, '\n', absl::SkipEmpty())) {
    ASSERT_TRUE(absl::SimpleAtoi(line, &last_step)) << Describe();
  }
  EXPECT_GE(last_step, 5) << "killed long before the limit: " << Describe();
  EXPECT_LE(last_step, 10) << "allocated beyond the limit: " << Describe();

  auto stats = manager_->GetStats(cgroup_path_);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->oom_kills, 0u);
  EXPECT_EQ(stats->memory_limit, static_cast<uint64_t>(100 * kMiB));
  EXPECT_GE(stats->memory_peak, static_cast<uint64_t>(50 * kMiB));
  EXPECT_LE(stats->memory_peak, static_cast<uint64_t>(100 * kMiB));
}

TEST_F(RuntimeIntegrationTest, PidsLimitStopsForkLoop) {
  // The loop runs in a subshell: ash gives up a non-interactive shell when fork fails. The init
  // then blocks reading stdin, so that the sleeps stay until Destroy kills them.
  json config =
      Config(Sh("(i=0; while [ $i -lt 100 ]; do sleep 60 & echo started; i=$((i+1)); done); "
                "echo loop-done; read line"));
  config["linux"]["resources"] = {{"pids", {{"limit", 20}}}};
  ASSERT_TRUE(Start(config).ok());
  ASSERT_TRUE(ReadUntil("loop-done", seconds(30))) << Describe();
  size_t started = CountLines(out_, "started");
  EXPECT_LE(started, 20u) << Describe();
  EXPECT_GE(started, 10u) << "the loop should fork until the limit: " << Describe();
  EXPECT_TRUE(absl::StrContains(err_, "can't fork")) << Describe();

  auto stats = manager_->GetStats(cgroup_path_);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_LE(stats->pids_current, 20u);
  EXPECT_GE(stats->pids_current, started);

  absl::Status destroyed = manager_->Destroy(cgroup_path_);
  ASSERT_TRUE(destroyed.ok()) << destroyed;
  EXPECT_FALSE(manager_->Exists(cgroup_path_));
  Wait(seconds(10));
  EXPECT_TRUE(KilledBy(SIGKILL)) << Describe();
}

TEST_F(RuntimeIntegrationTest, CpuQuotaHoldsBusyLoopToHalfACore) {
  json config = Config(Sh("echo go; while :; do :; done"));
  config["linux"]["resources"] = {{"cpu", {{"quota", 50000}, {"period", 100000}}}};
  ASSERT_TRUE(Start(config).ok());
  ASSERT_TRUE(ReadUntil("go", seconds(10))) << Describe();
  auto before = manager_->GetStats(cgroup_path_);
  auto t0 = steady_clock::now();
  std::this_thread::sleep_for(seconds(2));
  auto after = manager_->GetStats(cgroup_path_);
  auto t1 = steady_clock::now();
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(after.ok()) << after.status();
  double wall =
      static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  double cpu = static_cast<double>(after->cpu_usage - before->cpu_usage);
  EXPECT_GT(cpu / wall, 0.35) << "cpu " << cpu << " ns in " << wall << " ns";
  EXPECT_LT(cpu / wall, 0.65) << "cpu " << cpu << " ns in " << wall << " ns";

  absl::Status destroyed = manager_->Destroy(cgroup_path_);
  ASSERT_TRUE(destroyed.ok()) << destroyed;
  Wait(seconds(10));
  EXPECT_TRUE(KilledBy(SIGKILL)) << Describe();
}

TEST_F(RuntimeIntegrationTest, DeviceNotOnAllowListCannotBeOpened) {
  // A node of the host's real root disk, planted in the rootfs, and a fresh mknod of sda.
  struct stat root_st;
  ASSERT_EQ(stat("/", &root_st), 0);
  dev_t disk = major(root_st.st_dev) != 0 ? root_st.st_dev : makedev(8, 0);
  ASSERT_EQ(mknod((rootfs_ + "/tmp/disk").c_str(), S_IFBLK | 0600, disk), 0) << strerror(errno);

  json config =
      Config(Sh("head -c 1 /tmp/disk >/dev/null && echo opened-disk; "
                "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda >/dev/null && echo opened-sda; "
                "head -c 3 /dev/zero | wc -c"));
  json devices = json::array({{{"allow", false}, {"access", "rwm"}}});
  const std::pair<int, int> allowed[] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 2}};
  for (auto [major_nr, minor_nr] : allowed) {
    devices.push_back({{"allow", true},
                       {"type", "c"},
                       {"major", major_nr},
                       {"minor", minor_nr},
                       {"access", "rwm"}});
  }
  devices.push_back({{"allow", true}, {"type", "c"}, {"major", 136}, {"access", "rwm"}});
  config["linux"]["resources"] = {{"devices", devices}};
  ASSERT_TRUE(Run(config).ok());
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "opened-disk")) << Describe();
  EXPECT_FALSE(absl::StrContains(out_, "opened-sda")) << Describe();
  EXPECT_TRUE(absl::StrContains(err_, "/tmp/disk: Operation not permitted")) << Describe();
  EXPECT_TRUE(absl::StrContains(err_, "Operation not permitted")) << Describe();
  // Devices on the list still work.
  EXPECT_TRUE(absl::StrContains(out_, "3\n")) << Describe();
}

struct BadConfig {
  const char* name;
  bool relative_bundle;
  std::string field;
  void (*mutate)(json* config);
};

TEST_F(RuntimeIntegrationTest, BadConfigsAreRefusedAndLeaveNothing) {
  const BadConfig cases[] = {
      {"unknown namespace type", false, "linux.namespaces[6].type",
       [](json* c) {
         (*c)["linux"]["namespaces"].push_back({{"type", "container"}});
       }},
      {"negative memory limit", false, "linux.resources.memory.limit",
       [](json* c) {
         (*c)["linux"]["resources"] = {{"memory", {{"limit", -100}}}};
       }},
      {"relative rootfs path", true, "root.path", [](json* c) { (*c)["root"]["path"] = "rootfs"; }},
      {"mount target ..", false, "mounts[5].destination",
       [](json* c) {
         (*c)["mounts"].push_back({{"destination", ".."}, {"type", "tmpfs"}, {"source", "tmpfs"}});
       }},
  };
  for (const BadConfig& bad : cases) {
    SCOPED_TRACE(bad.name);
    json config = Config(Sh("true"));
    bad.mutate(&config);
    const size_t mounts_before = ParseMountInfo(ReadText("/proc/self/mountinfo")).size();
    std::string bundle = bad.relative_bundle ? "bundles/relative" : bundle_;
    absl::Status status;
    auto spec = ParseSpec(config.dump(), bundle);
    if (spec.ok()) {
      int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      LaunchOptions options;
      options.container_id = id_;
      options.stdin_fd = options.stdout_fd = options.stderr_fd = null_fd;
      options.cgroups = manager_.get();
      auto proc = Launch(*spec, options);
      close(null_fd);
      if (proc.ok()) {
        ADD_FAILURE() << "launched";
        proc_ = std::move(*proc);
        Wait();
        continue;
      }
      status = proc.status();
    } else {
      status = spec.status();
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(absl::StartsWith(status.message(), bad.field + ": ")) << status;
    ExpectNoCgroup();
    EXPECT_EQ(ParseMountInfo(ReadText("/proc/self/mountinfo")).size(), mounts_before);
  }
}

TEST_F(RuntimeIntegrationTest, FailedMountInChildLeavesNothing) {
  json config = Config(Sh("true"));
  config["mounts"].push_back(
      {{"destination", "/bogus"}, {"type", "kapsel-no-such-fs"}, {"source", "none"}});
  const std::string host_mounts_before = ReadText("/proc/self/mountinfo");
  absl::Status s = Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(absl::StrContains(s.message(), "mount kapsel-no-such-fs on /bogus")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "ENODEV")) << s;
  EXPECT_EQ(ExecErrno(s), 0);
  ExpectNoCgroup();
  EXPECT_EQ(ReadText("/proc/self/mountinfo"), host_mounts_before);
}

TEST_F(RuntimeIntegrationTest, FailedExecIsReportedWithErrno) {
  absl::Status s = Start(Config(json::array({"/bin/no-such-program"})));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ExecErrno(s), ENOENT) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "exec \"/bin/no-such-program\"")) << s;
  ExpectNoCgroup();
}

TEST_F(RuntimeIntegrationTest, UserNamespaceMapsRootToUnprivilegedUid) {
  const std::string shared = bundle_ + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  // Root of the container cannot create directories in a rootfs owned by the host's root.
  ASSERT_EQ(mkdir((rootfs_ + "/shared").c_str(), 0755), 0);

  json config = Config(Sh("id -u; echo hello > /shared/file && echo written"));
  config["linux"]["namespaces"].push_back({{"type", "user"}});
  json mapping = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  config["linux"]["uidMappings"] = mapping;
  config["linux"]["gidMappings"] = mapping;
  config["mounts"].push_back(
      {{"destination", "/shared"}, {"type", "bind"}, {"source", shared}, {"options", {"bind"}}});
  absl::Status run = Run(config);
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_EQ(out_, "0\nwritten\n") << Describe();

  struct stat st;
  ASSERT_EQ(stat((shared + "/file").c_str(), &st), 0) << strerror(errno);
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100000u);
}

}  // namespace
}  // namespace kapsel::runtime

namespace kapsel::runtime {
namespace {

// Holds a network, uts and pid namespace for containers to join: a child that unshared them and
// a grandchild that is PID 1 of the new pid namespace. Killed by pid when the test ends.
class NamespaceHolder {
 public:
  bool Start() {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return false;
    child_ = fork();
    if (child_ == 0) {
      close(ready[0]);
      if (unshare(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWPID) != 0) _exit(1);
      sethostname("joined-ns", 9);
      // The new pid namespace exists once its first process does.
      pid_t init = fork();
      if (init == 0) {
        for (;;) pause();
      }
      if (write(ready[1], &init, sizeof(init)) != sizeof(init)) _exit(1);
      waitpid(init, nullptr, 0);
      _exit(0);
    }
    close(ready[1]);
    pid_t init = 0;
    bool ok = read(ready[0], &init, sizeof(init)) == sizeof(init);
    close(ready[0]);
    init_ = init;
    return ok && child_ > 0 && init_ > 0;
  }
  ~NamespaceHolder() {
    if (init_ > 0) kill(init_, SIGKILL);
    if (child_ > 0) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }
  std::string Ns(const char* type) const { return absl::StrCat("/proc/", init_, "/ns/", type); }

 private:
  pid_t child_ = -1;
  pid_t init_ = -1;
};

TEST_F(RuntimeIntegrationTest, JoinsNamespacesByPath) {
  NamespaceHolder holder;
  ASSERT_TRUE(holder.Start());
  char want_net[128] = {};
  ASSERT_GT(readlink(holder.Ns("net").c_str(), want_net, sizeof(want_net) - 1), 0);

  json config = Config(Sh("echo $$; hostname; readlink /proc/self/ns/net"));
  config.erase("hostname");
  config["linux"]["namespaces"] = json::array({{{"type", "mount"}},
                                               {{"type", "ipc"}},
                                               {{"type", "cgroup"}},
                                               {{"type", "pid"}, {"path", holder.Ns("pid")}},
                                               {{"type", "network"}, {"path", holder.Ns("net")}},
                                               {{"type", "uts"}, {"path", holder.Ns("uts")}}});
  absl::Status run = Run(config);
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  // PID 1 of the joined namespace is the holder's process, so the container's shell is not 1.
  std::vector<std::string> lines = absl::StrSplit(out_, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << Describe();
  EXPECT_NE(lines[0], "1") << Describe();
  EXPECT_EQ(lines[1], "joined-ns") << Describe();
  EXPECT_EQ(lines[2], want_net) << Describe();
}

std::string ReadLink(const std::string& path) {
  char buf[128] = {};
  return readlink(path.c_str(), buf, sizeof(buf) - 1) > 0 ? buf : "";
}

// A user namespace and a network namespace owned by it, made before the container as kapseld
// makes them for a remapped container (runtime/linux/userns.h): the container joins both by path
// and makes its other namespaces inside the joined user namespace.
TEST_F(RuntimeIntegrationTest, JoinedUserNamespaceOwnsTheNewNamespacesAndTheJoinedNetwork) {
  auto user = linux::NewUserNamespace("0 100000 65536\n", "0 100000 65536\n");
  ASSERT_TRUE(user.ok()) << user.status();
  auto net = linux::NewNamespaceOwnedBy(user->get(), CLONE_NEWNET);
  ASSERT_TRUE(net.ok()) << net.status();
  const std::string user_path = absl::StrCat("/proc/self/fd/", user->get());
  const std::string net_path = absl::StrCat("/proc/self/fd/", net->get());
  ASSERT_NE(ReadLink(user_path), ReadLink("/proc/self/ns/user"));
  json config = Config(
      Sh("id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; readlink /proc/self/ns/net;"
         " ls /sys/class/net; echo 1 > /proc/sys/net/ipv4/ip_forward && echo forwarding;"
         " test -d /sys/fs/cgroup/memory -o -f /sys/fs/cgroup/cgroup.controllers && echo cgroup"));
  config["mounts"].push_back({{"destination", "/sys/fs/cgroup"},
                              {"type", "cgroup"},
                              {"source", "cgroup"},
                              {"options", {"nosuid", "noexec", "nodev", "ro"}}});
  config["linux"]["namespaces"] = json::array({{{"type", "user"}, {"path", user_path}},
                                               {{"type", "network"}, {"path", net_path}},
                                               {{"type", "mount"}},
                                               {{"type", "pid"}},
                                               {{"type", "uts"}},
                                               {{"type", "ipc"}},
                                               {{"type", "cgroup"}}});
  absl::Status run = Run(config);
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  std::vector<std::string> lines = absl::StrSplit(out_, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 7u) << Describe();
  EXPECT_EQ(lines[0], "0") << Describe();
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[1], ' ', absl::SkipWhitespace())),
            (std::vector<std::string>{"0", "100000", "65536"}))
      << Describe();
  EXPECT_EQ(lines[2], ReadLink(user_path)) << Describe();
  EXPECT_EQ(lines[3], ReadLink(net_path)) << Describe();
  // sysfs shows the joined network namespace, which only its owner may mount.
  EXPECT_EQ(lines[4], "lo") << Describe();
  // A network sysctl is written: the container's root administers the joined namespace.
  EXPECT_EQ(lines[5], "forwarding") << Describe();
  // proc, sysfs and cgroup mounted: the new mount namespace belongs to the joined user namespace.
  EXPECT_EQ(lines[6], "cgroup") << Describe();
}

TEST_F(RuntimeIntegrationTest, NewTimeNamespace) {
  if (access("/proc/self/ns/time", F_OK) != 0) GTEST_SKIP() << "the kernel has no time namespaces";
  char host[128] = {};
  ASSERT_GT(readlink("/proc/self/ns/time", host, sizeof(host) - 1), 0);
  json config = Config(Sh("readlink /proc/self/ns/time"));
  config["linux"]["namespaces"].push_back({{"type", "time"}});
  absl::Status run = Run(config);
  ASSERT_TRUE(run.ok()) << run;
  EXPECT_TRUE(ExitedWith(0)) << Describe();
  EXPECT_FALSE(out_.empty()) << Describe();
  EXPECT_NE(out_, absl::StrCat(host, "\n")) << Describe();
}

// Whether pivot_root(2) refuses to move the caller's root, as it does when the root is the
// initramfs (rootfs has no parent mount). Probed for real in a throwaway child and mount namespace.
bool CallerRootIsInitramfs() {
  pid_t pid = fork();
  if (pid == 0) {
    char dir[] = "/tmp/kapsel-pivot-probe-XXXXXX";
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        mkdtemp(dir) == nullptr) {
      _exit(2);
    }
    int rc = 2;
    if (mount(dir, dir, nullptr, MS_BIND, nullptr) == 0 && chdir(dir) == 0) {
      rc = syscall(SYS_pivot_root, ".", ".") != 0 && errno == EINVAL ? 0 : 1;
    }
    // The probe directory lives in the host's /tmp; the mount namespace dies with the child.
    if (rc != 1) umount2(dir, MNT_DETACH);
    rmdir(dir);
    _exit(rc);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// On a system that runs from its initramfs, pivot_root(2) fails with EINVAL and the runtime
// falls back to MS_MOVE + chroot. The container must be as confined: the classic chroot climb
// (chroot into a subdirectory, chdir .. up, chroot .) must not reach the initramfs root. The VM
// runs this with the initramfs as root (vm.initramfs_root); elsewhere it is skipped.
TEST_F(RuntimeIntegrationTest, RootOnInitramfsFallsBackToMoveAndChroot) {
  const bool expected = getenv("KAPSEL_EXPECT_INITRAMFS_ROOT") != nullptr;
  if (!CallerRootIsInitramfs()) {
    ASSERT_FALSE(expected) << "KAPSEL_EXPECT_INITRAMFS_ROOT is set but pivot_root works here";
    GTEST_SKIP() << "pivot_root works from this root; vm.initramfs_root runs this test";
  }
  const char* escape = getenv("KAPSEL_ESCAPE");
  ASSERT_NE(escape, nullptr) << "KAPSEL_ESCAPE must name the escape program (tests/security)";
  // On the real root, outside the rootfs: what the climb would find if the old root were there.
  const std::string marker = absl::StrCat("/kapsel-initramfs-marker-", id_);
  std::ofstream(marker) << "host\n";
  fs::copy_file(escape, rootfs_ + "/bin/escape");
  ASSERT_EQ(chmod((rootfs_ + "/bin/escape").c_str(), 0755), 0);
  json config = Config(json::array({"/bin/escape"}));
  config["process"]["env"].push_back("KAPSEL_ESCAPE_HOST_PATH=" + marker);
  absl::Status run = Run(config);
  unlink(marker.c_str());
  ASSERT_TRUE(run.ok()) << run;
  // This container keeps every capability (no capabilities in its config), so only the lines
  // about the root and the host matter here.
  EXPECT_TRUE(absl::StrContains(out_, "escape: chroot-escape: blocked")) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "escape: host-fd: blocked")) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "escape: proc-exe-host-binary: blocked")) << Describe();
}

// The first line of a cgroup interface file, without its newline.
std::string FirstLine(const std::string& path) {
  std::string text = ReadText(path);
  return text.substr(0, text.find('\n'));
}

bool HostHasHugetlb(cgroups::Mode mode) {
  if (access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) != 0) return false;
  if (mode == cgroups::Mode::kV1) return access("/sys/fs/cgroup/hugetlb", F_OK) == 0;
  return absl::StrContains(ReadText("/sys/fs/cgroup/cgroup.controllers"), "hugetlb");
}

// Every resource without a behavioural test of its own reaches the kernel's interface file, in the
// unit and scale of the host's cgroup version, and the cpuset confines the container's tasks.
TEST_F(RuntimeIntegrationTest, ResourcesReachTheCgroupFiles) {
  bool v1 = manager_->mode() == cgroups::Mode::kV1;
  bool hugetlb = HostHasHugetlb(manager_->mode());
  json config =
      Config(Sh("grep Cpus_allowed_list /proc/self/status; echo started; read line; true"));
  config["linux"]["resources"] = {
      {"memory", {{"limit", 256 * kMiB}, {"reservation", 32 * kMiB}}},
      {"cpu", {{"shares", 512}, {"cpus", "0"}, {"mems", "0"}}},
      {"blockIO", {{"weight", 300}}},
  };
  if (hugetlb) {
    config["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "2MB"}, {"limit", 4 * kMiB}}};
  }
  ASSERT_TRUE(Start(config).ok());
  ASSERT_TRUE(ReadUntil("started", seconds(10))) << Describe();
  EXPECT_TRUE(absl::StrContains(out_, "Cpus_allowed_list:\t0\n")) << Describe();

  auto dir = [&](const char* controller) {
    return v1 ? absl::StrCat("/sys/fs/cgroup/", controller, "/", cgroup_path_)
              : manager_->MemoryDir(cgroup_path_);
  };
  // bfq prints "default 300"; iocost's io.weight "default 30".
  auto weight = [](const std::string& line) {
    return std::string(absl::StripPrefix(line, "default "));
  };
  if (v1) {
    EXPECT_EQ(FirstLine(dir("memory") + "/memory.soft_limit_in_bytes"), absl::StrCat(32 * kMiB));
    EXPECT_EQ(FirstLine(dir("cpu") + "/cpu.shares"), "512");
    EXPECT_EQ(FirstLine(dir("cpuset") + "/cpuset.cpus"), "0");
    EXPECT_EQ(FirstLine(dir("cpuset") + "/cpuset.mems"), "0");
    std::string blkio = dir("blkio");
    std::string file = access((blkio + "/blkio.weight").c_str(), F_OK) == 0
                           ? blkio + "/blkio.weight"
                           : blkio + "/blkio.bfq.weight";
    EXPECT_EQ(weight(FirstLine(file)), "300") << file;
    if (hugetlb) {
      EXPECT_EQ(FirstLine(dir("hugetlb") + "/hugetlb.2MB.limit_in_bytes"), absl::StrCat(4 * kMiB));
    }
  } else {
    std::string d = dir("");
    EXPECT_EQ(FirstLine(d + "/memory.low"), absl::StrCat(32 * kMiB));
    // runc's and crun's scale: 1 + (512 - 2) * 9999 / 262142.
    EXPECT_EQ(FirstLine(d + "/cpu.weight"), "20");
    EXPECT_EQ(FirstLine(d + "/cpuset.cpus"), "0");
    EXPECT_EQ(FirstLine(d + "/cpuset.mems"), "0");
    if (access((d + "/io.bfq.weight").c_str(), F_OK) == 0) {
      EXPECT_EQ(weight(FirstLine(d + "/io.bfq.weight")), "300");
    } else {
      // 1 + (300 - 10) * 9999 / 990.
      EXPECT_EQ(weight(FirstLine(d + "/io.weight")), "2930");
    }
    if (hugetlb) {
      EXPECT_EQ(FirstLine(d + "/hugetlb.2MB.max"), absl::StrCat(4 * kMiB));
    }
  }
  if (!hugetlb)
    std::cout << "[   NOTE   ] no hugetlb controller here: hugepageLimits not checked\n";
  Wait();
  EXPECT_TRUE(ExitedWith(0)) << Describe();
}

TEST_F(RuntimeIntegrationTest, UnifiedResourcesNeedCgroupV2) {
  json config = Config(Sh("echo started; read line; true"));
  config["linux"]["resources"] = {{"memory", {{"limit", 64 * kMiB}}},
                                  {"unified", {{"memory.oom.group", "1"}}}};
  absl::Status start = Start(config);
  if (manager_->mode() == cgroups::Mode::kV1) {
    ASSERT_FALSE(start.ok());
    EXPECT_NE(start.message().find("linux.resources.unified.memory.oom.group"),
              absl::string_view::npos)
        << start;
    ExpectNoCgroup();
    return;
  }
  ASSERT_TRUE(start.ok()) << start;
  ASSERT_TRUE(ReadUntil("started", milliseconds(10000))) << Describe();
  std::ifstream in(absl::StrCat(manager_->MemoryDir(cgroup_path_), "/memory.oom.group"));
  std::string value;
  in >> value;
  EXPECT_EQ(value, "1");
  Wait();
  EXPECT_TRUE(ExitedWith(0)) << Describe();
}

}  // namespace
}  // namespace kapsel::runtime
