#include "client/parse.h"

#include <csignal>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseEnvVarTest, KeyValueIsTakenAsIs) {
  EnvLookup env = FakeEnv({});
  EXPECT_EQ(*ParseEnvVar("A=1", env), "A=1");
  EXPECT_EQ(*ParseEnvVar("A=", env), "A=");
  EXPECT_EQ(*ParseEnvVar("A=b=c", env), "A=b=c");
}

TEST(ParseEnvVarTest, BareKeyCopiesTheClientsValue) {
  EnvLookup env = FakeEnv({{"HOME", "/root"}, {"EMPTY", ""}});
  EXPECT_EQ(*ParseEnvVar("HOME", env), "HOME=/root");
  EXPECT_EQ(*ParseEnvVar("EMPTY", env), "EMPTY=");
  absl::StatusOr<std::optional<std::string>> unset = ParseEnvVar("UNSET", env);
  ASSERT_TRUE(unset.ok());
  EXPECT_FALSE(unset->has_value());
}

TEST(ParseEnvVarTest, EmptyKeyIsAnError) {
  EnvLookup env = FakeEnv({});
  absl::StatusOr<std::optional<std::string>> var = ParseEnvVar("=x", env);
  EXPECT_EQ(var.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(var.status().message().find("\"=x\""), std::string::npos);
  EXPECT_FALSE(ParseEnvVar("", env).ok());
}

TEST(ParseEnvVarsTest, KeepsOrderAndDropsUnset) {
  EnvLookup env = FakeEnv({{"B", "2"}});
  absl::StatusOr<std::vector<std::string>> vars = ParseEnvVars({"A=1", "B", "C", "D=4"}, env);
  ASSERT_TRUE(vars.ok());
  EXPECT_EQ(*vars, (std::vector<std::string>{"A=1", "B=2", "D=4"}));
  EXPECT_FALSE(ParseEnvVars({"A=1", "=2"}, env).ok());
}

TEST(ParseLabelTest, Forms) {
  EXPECT_EQ(*ParseLabel("k=v"), std::make_pair(std::string("k"), std::string("v")));
  EXPECT_EQ(*ParseLabel("k=v=w"), std::make_pair(std::string("k"), std::string("v=w")));
  EXPECT_EQ(*ParseLabel("k"), std::make_pair(std::string("k"), std::string("")));
  EXPECT_FALSE(ParseLabel("=v").ok());
  EXPECT_FALSE(ParseLabel("").ok());
}

TEST(ParseImageReferenceTest, NameGetsLatest) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("busybox");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "busybox");
  EXPECT_EQ(ref->tag, "latest");
  EXPECT_EQ(ref->digest, "");
  EXPECT_EQ(ref->String(), "busybox:latest");
}

TEST(ParseImageReferenceTest, NameAndTag) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("library/alpine:3.19");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "library/alpine");
  EXPECT_EQ(ref->tag, "3.19");
}

TEST(ParseImageReferenceTest, RegistryPortIsNotATag) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("localhost:5000/my-app");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "localhost:5000/my-app");
  EXPECT_EQ(ref->tag, "latest");

  ref = ParseImageReference("registry.example.com:5000/team/my_app:v1.2-rc");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "registry.example.com:5000/team/my_app");
  EXPECT_EQ(ref->tag, "v1.2-rc");
}

TEST(ParseImageReferenceTest, IPv6LiteralRegistry) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("[::1]:5000/team/app:1");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "[::1]:5000/team/app");
  EXPECT_EQ(ref->tag, "1");
  ref = ParseImageReference("[fd00::1]/app");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "[fd00::1]/app");
  EXPECT_EQ(ref->tag, "latest");
  for (const char* bad : {"[::1:5000/app", "[::z]:5000/app", "[::1]:/app", "[::1]x/app",
                          "[127.0.0.1]:5000/app", "[::1]:123456/app"}) {
    EXPECT_FALSE(ParseImageReference(bad).ok()) << bad;
  }
}

TEST(ParseImageReferenceTest, Digest) {
  std::string digest = "sha256:" + std::string(64, 'a');
  absl::StatusOr<ImageReference> ref = ParseImageReference("busybox@" + digest);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "busybox");
  EXPECT_EQ(ref->tag, "");
  EXPECT_EQ(ref->digest, digest);
  EXPECT_EQ(ref->String(), "busybox@" + digest);

  ref = ParseImageReference("busybox:1@" + digest);
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->String(), "busybox:1@" + digest);
}

TEST(ParseImageReferenceTest, ShortIdIsAValidReference) {
  EXPECT_TRUE(ParseImageReference("0123456789ab").ok());
}

TEST(ParseImageReferenceTest, Invalid) {
  for (const char* bad : {"", "BusyBox", "busybox:", "busybox:-x", "a//b", "-busybox", "busybox-",
                          "busy box", "busybox@sha256:abc", "busybox@md5:", ":tag", "/busybox"}) {
    absl::StatusOr<ImageReference> ref = ParseImageReference(bad);
    EXPECT_FALSE(ref.ok()) << bad;
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseImageReference("BusyBox").status().message().find("lowercase"), std::string::npos);
  EXPECT_FALSE(ParseImageReference("busybox:" + std::string(129, 't')).ok());
}

TEST(ParseMemorySizeTest, Units) {
  EXPECT_EQ(*ParseMemorySize("1024"), 1024);
  EXPECT_EQ(*ParseMemorySize("0"), 0);
  EXPECT_EQ(*ParseMemorySize("10b"), 10);
  EXPECT_EQ(*ParseMemorySize("512k"), 512 * 1024);
  EXPECT_EQ(*ParseMemorySize("512K"), 512 * 1024);
  EXPECT_EQ(*ParseMemorySize("100m"), 100 * 1024 * 1024);
  EXPECT_EQ(*ParseMemorySize("100mb"), 100 * 1024 * 1024);
  EXPECT_EQ(*ParseMemorySize("100MiB"), 100 * 1024 * 1024);
  EXPECT_EQ(*ParseMemorySize("1g"), int64_t{1} << 30);
  EXPECT_EQ(*ParseMemorySize("1.5g"), int64_t{3} << 29);
  EXPECT_EQ(*ParseMemorySize("2t"), int64_t{2} << 40);
  EXPECT_EQ(*ParseMemorySize("1p"), int64_t{1} << 50);
}

TEST(ParseMemorySizeTest, MalformedNamesTheValue) {
  for (const char* bad : {"", "abc", "m", "-1", "1x", "1 m", "1.m", ".5m", "1..5m", "1mm", "1bb",
                          "1kibb", "10e3", "0x10"}) {
    absl::StatusOr<int64_t> size = ParseMemorySize(bad);
    EXPECT_FALSE(size.ok()) << bad;
    EXPECT_NE(size.status().message().find(std::string("\"") + bad + "\""), std::string::npos)
        << size.status();
  }
}

TEST(ParseMemorySizeTest, Overflow) {
  EXPECT_FALSE(ParseMemorySize("8192p").ok());
  EXPECT_FALSE(ParseMemorySize("99999999999999999999").ok());
  EXPECT_FALSE(ParseMemorySize("8192.5p").ok());
  EXPECT_EQ(*ParseMemorySize("8191p"), int64_t{8191} << 50);
}

TEST(ParseSignalTest, NamesAndNumbers) {
  EXPECT_EQ(*ParseSignal("KILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("sigterm"), SIGTERM);
  EXPECT_EQ(*ParseSignal("term"), SIGTERM);
  EXPECT_EQ(*ParseSignal("HUP"), SIGHUP);
  EXPECT_EQ(*ParseSignal("USR1"), SIGUSR1);
  EXPECT_EQ(*ParseSignal("9"), 9);
  EXPECT_EQ(*ParseSignal("15"), 15);
  EXPECT_EQ(*ParseSignal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(*ParseSignal("SIGRTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(*ParseSignal("RTMAX-1"), SIGRTMAX - 1);
}

TEST(ParseSignalTest, Invalid) {
  for (const char* bad : {"", "0", "-9", "65", "999", "SIG", "NOPE", "9x", "RTMIN+", "RTMIN-1",
                          "RTMAX+1", "RTMIN+100", "KILL "}) {
    absl::StatusOr<int> signal = ParseSignal(bad);
    EXPECT_FALSE(signal.ok()) << bad;
  }
  EXPECT_NE(ParseSignal("NOPE").status().message().find("\"NOPE\""), std::string::npos);
}

TEST(NormalizeSignalTest, CanonicalName) {
  EXPECT_EQ(*NormalizeSignal("SIGKILL"), "KILL");
  EXPECT_EQ(*NormalizeSignal("9"), "KILL");
  EXPECT_EQ(*NormalizeSignal("sigterm"), "TERM");
  EXPECT_EQ(*NormalizeSignal("IOT"), "ABRT");
  EXPECT_EQ(*NormalizeSignal("RTMIN+1"), std::to_string(SIGRTMIN + 1));
  EXPECT_FALSE(NormalizeSignal("BOGUS").ok());
}

TEST(ParseCpusTest, Values) {
  EXPECT_DOUBLE_EQ(*ParseCpus("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseCpus("2"), 2.0);
  EXPECT_DOUBLE_EQ(*ParseCpus("0"), 0.0);
  for (const char* bad : {"", "abc", "-1", "nan", "inf", "1.5x"}) {
    absl::StatusOr<double> cpus = ParseCpus(bad);
    EXPECT_FALSE(cpus.ok()) << bad;
    EXPECT_NE(cpus.status().message().find(std::string("\"") + bad + "\""), std::string::npos);
  }
}

TEST(BuildContainerSpecTest, AllFlags) {
  ContainerOptions options;
  options.image = "busybox:1.36";
  options.command = {"sh", "-c", "echo hi"};
  options.name = "web-1";
  options.env = {"A=1", "HOME", "UNSET"};
  options.labels = {"app=web", "tier"};
  options.working_dir = "/srv";
  options.hostname = "box";
  options.user = "1000:1000";
  options.entrypoint = "/bin/init";
  options.memory = "100m";
  options.cpus = "0.5";
  options.pids_limit = 64;
  options.network = "none";
  options.auto_remove = true;
  options.read_only = true;
  options.interactive = true;
  options.tty = true;

  absl::StatusOr<kapsel::v1::ContainerSpec> spec =
      BuildContainerSpec(options, FakeEnv({{"HOME", "/home/me"}}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->image(), "busybox:1.36");
  EXPECT_EQ(spec->name(), "web-1");
  ASSERT_EQ(spec->entrypoint_size(), 1);
  EXPECT_EQ(spec->entrypoint(0), "/bin/init");
  EXPECT_EQ(std::vector<std::string>(spec->cmd().begin(), spec->cmd().end()),
            (std::vector<std::string>{"sh", "-c", "echo hi"}));
  EXPECT_EQ(std::vector<std::string>(spec->env().begin(), spec->env().end()),
            (std::vector<std::string>{"A=1", "HOME=/home/me"}));
  EXPECT_EQ(spec->working_dir(), "/srv");
  EXPECT_EQ(spec->hostname(), "box");
  EXPECT_EQ(spec->user(), "1000:1000");
  ASSERT_EQ(spec->labels_size(), 2);
  EXPECT_EQ(spec->labels().at("app"), "web");
  EXPECT_EQ(spec->labels().at("tier"), "");
  EXPECT_TRUE(spec->auto_remove());
  EXPECT_TRUE(spec->read_only_rootfs());
  EXPECT_TRUE(spec->tty());
  EXPECT_TRUE(spec->open_stdin());
  EXPECT_EQ(spec->network_mode(), "none");
  EXPECT_EQ(spec->resources().memory_limit_bytes(), 100 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(spec->resources().cpus(), 0.5);
  EXPECT_EQ(spec->resources().pids_limit(), 64);
}

TEST(BuildContainerSpecTest, MemorySwap) {
  ContainerOptions options;
  options.image = "busybox";
  options.memory = "100m";
  options.memory_swap = "200m";
  auto spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->resources().memory_swap_bytes(), 200 * 1024 * 1024);
  options.memory_swap = "-1";
  spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->resources().memory_swap_bytes(), -1);
  options.memory_swap = "50m";
  spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("--memory-swap"), absl::string_view::npos);
  options.memory.clear();
  options.memory_swap = "200m";
  EXPECT_FALSE(BuildContainerSpec(options, FakeEnv({})).ok());
}

TEST(BuildContainerSpecTest, DefaultsAreEmpty) {
  ContainerOptions options;
  options.image = "busybox";
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->image(), "busybox");
  EXPECT_EQ(spec->name(), "");
  EXPECT_EQ(spec->entrypoint_size(), 0);
  EXPECT_EQ(spec->cmd_size(), 0);
  EXPECT_EQ(spec->env_size(), 0);
  EXPECT_FALSE(spec->auto_remove());
  EXPECT_EQ(spec->resources().memory_limit_bytes(), 0);
  EXPECT_EQ(spec->resources().cpus(), 0.0);
  EXPECT_EQ(spec->resources().pids_limit(), 0);
}

TEST(BuildContainerSpecTest, PidsLimitMinusOneIsUnlimited) {
  ContainerOptions options;
  options.image = "busybox";
  options.pids_limit = -1;
  EXPECT_EQ(BuildContainerSpec(options, FakeEnv({}))->resources().pids_limit(), 0);
  options.pids_limit = -2;
  EXPECT_FALSE(BuildContainerSpec(options, FakeEnv({})).ok());
}

TEST(BuildContainerSpecTest, ErrorsNameTheValue) {
  struct Case {
    void (*mutate)(ContainerOptions&);
    const char* expected;
  };
  const Case cases[] = {
      {[](ContainerOptions& o) { o.image = "Busybox"; }, "\"Busybox\""},
      {[](ContainerOptions& o) { o.image = ""; }, "empty image reference"},
      {[](ContainerOptions& o) { o.memory = "lots"; }, "\"lots\""},
      {[](ContainerOptions& o) { o.cpus = "half"; }, "\"half\""},
      {[](ContainerOptions& o) { o.env = {"=1"}; }, "\"=1\""},
      {[](ContainerOptions& o) { o.labels = {"=v"}; }, "\"=v\""},
      {[](ContainerOptions& o) { o.working_dir = "srv"; }, "\"srv\""},
      {[](ContainerOptions& o) { o.name = "-bad"; }, "\"-bad\""},
      {[](ContainerOptions& o) { o.name = "a b"; }, "\"a b\""},
      {[](ContainerOptions& o) { o.network = "container:"; }, "container:"},
  };
  for (const Case& c : cases) {
    ContainerOptions options;
    options.image = "busybox";
    c.mutate(options);
    absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, FakeEnv({}));
    ASSERT_FALSE(spec.ok()) << c.expected;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.expected), std::string::npos) << spec.status();
  }
}

TEST(ParseVolumeTest, HostContainerAndOptions) {
  auto m = ParseVolume("/srv/data:/data");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->host_path(), "/srv/data");
  EXPECT_EQ(m->container_path(), "/data");
  EXPECT_FALSE(m->read_only());
  EXPECT_TRUE(m->recursive());
  m = ParseVolume("/srv:/srv:ro,rslave");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->read_only());
  EXPECT_EQ(m->propagation(), "rslave");
}

TEST(ParseVolumeTest, BadVolumesNameTheProblem) {
  for (const auto& [value, want] : std::vector<std::pair<std::string, std::string>>{
           {"/a", "want HOST-PATH:CONTAINER-PATH"},
           {"/a:/b:ro:x", "want HOST-PATH:CONTAINER-PATH"},
           {"named:/data", "named volumes are not supported"},
           {"/a:b", "container path must be absolute"},
           {"/a:/b:z", "unknown option \"z\""},
       }) {
    auto m = ParseVolume(value);
    ASSERT_FALSE(m.ok()) << value;
    EXPECT_NE(m.status().message().find(want), std::string::npos) << m.status();
    EXPECT_NE(m.status().message().find(value), std::string::npos) << m.status();
  }
}

TEST(ParseLogOptTest, CommaSeparatedAndRepeated) {
  kapsel::v1::LogOptions log;
  ASSERT_TRUE(ParseLogOpt("max-size=10m,max-file=3", &log).ok());
  EXPECT_EQ(log.max_size_bytes(), 10 * 1024 * 1024);
  EXPECT_EQ(log.max_files(), 3);

  ContainerOptions options;
  options.image = "busybox";
  options.log_opts = {"max-size=4k", "max-file=2"};
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->log().max_size_bytes(), 4096);
  EXPECT_EQ(spec->log().max_files(), 2);

  options.log_opts.clear();
  spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->has_log());
}

TEST(ParseLogOptTest, BadValuesNameTheProblem) {
  for (const auto& [value, want] : std::vector<std::pair<std::string, std::string>>{
           {"max-size=lots", "max-size=lots"},
           {"max-size=0", "must be positive"},
           {"max-file=0", "at least 1"},
           {"max-file=x", "max-file=x"},
           {"max-file=3,mode=non-blocking", "unknown option"},
           {"max-size", "max-size"},
       }) {
    kapsel::v1::LogOptions log;
    absl::Status s = ParseLogOpt(value, &log);
    ASSERT_FALSE(s.ok()) << value;
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find(want), std::string::npos) << s;
  }
  ContainerOptions options;
  options.image = "busybox";
  options.log_opts = {"max-file=-1"};
  EXPECT_FALSE(BuildContainerSpec(options, FakeEnv({})).ok());
}

TEST(ParseUlimitTest, UlimitTmpfsAndInitReachTheSpec) {
  ContainerOptions options;
  options.image = "busybox";
  options.ulimits = {"nofile=100:200", "core=-1"};
  options.tmpfs = {"/run", "/scratch:size=1m,exec"};
  options.init = true;
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->ulimits_size(), 2);
  EXPECT_EQ(spec->ulimits(0).name(), "nofile");
  EXPECT_EQ(spec->ulimits(0).soft(), 100);
  EXPECT_EQ(spec->ulimits(0).hard(), 200);
  EXPECT_EQ(spec->ulimits(1).soft(), -1);
  EXPECT_EQ(spec->ulimits(1).hard(), -1);
  ASSERT_EQ(spec->tmpfs_size(), 2);
  EXPECT_EQ(spec->tmpfs().at("/run"), "");
  EXPECT_EQ(spec->tmpfs().at("/scratch"), "size=1m,exec");
  EXPECT_TRUE(spec->init());
}

TEST(ParseUlimitTest, BadValuesNameTheProblem) {
  for (const std::string bad : {"nofile", "=5", "nofile=x", "nofile=1:2:3", "nofile=1:"}) {
    absl::StatusOr<kapsel::v1::Ulimit> u = ParseUlimit(bad);
    ASSERT_FALSE(u.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(u.status()));
    EXPECT_NE(u.status().message().find("invalid --ulimit \"" + bad + "\""), std::string::npos)
        << u.status();
  }
  for (const std::string bad : {"", "run", ":size=1m"}) {
    auto t = ParseTmpfs(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("PATH must be absolute"), std::string::npos) << t.status();
  }
  ContainerOptions options;
  options.image = "busybox";
  options.tmpfs = {"/run", "/run:size=1m"};
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, FakeEnv({}));
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("--tmpfs /run: the path is given twice"),
            std::string::npos)
      << spec.status();
}

TEST(ParseSinceTest, TimesUnixSecondsAndDurations) {
  const absl::Time now = absl::FromUnixSeconds(1796026872);
  EXPECT_EQ(*ParseSince("2026-11-30T08:21:12Z", now), int64_t{1796026872} * 1000000000);
  EXPECT_EQ(*ParseSince("2026-11-30T08:21:12.5Z", now),
            int64_t{1796026872} * 1000000000 + 500000000);
  EXPECT_EQ(*ParseSince("2026-11-30T09:21:12+01:00", now), int64_t{1796026872} * 1000000000);
  EXPECT_EQ(*ParseSince("1796026872", now), int64_t{1796026872} * 1000000000);
  EXPECT_EQ(*ParseSince("10m", now), int64_t{1796026872 - 600} * 1000000000);
  EXPECT_EQ(*ParseSince("1h30m", now), int64_t{1796026872 - 5400} * 1000000000);
  for (const char* bad : {"", "yesterday", "-10m", "2026-13-01T00:00:00Z", "10x"}) {
    absl::StatusOr<int64_t> t = ParseSince(bad, now);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("--since"), std::string::npos) << t.status();
  }
}

}  // namespace
}  // namespace kapsel::client
