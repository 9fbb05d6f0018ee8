#include "daemon/config.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/config_flags.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<DaemonSettings> Resolve(const std::string& json) {
  auto config = ParseConfig(json);
  if (!config.ok()) return config.status();
  return ResolveSettings(*config);
}

// Runs the flags through CLI11 as kapseld's main does.
v1::DaemonConfig Flags(std::vector<std::string> args) {
  CLI::App app;
  v1::DaemonConfig overrides;
  AddConfigFlags(&app, &overrides);
  std::reverse(args.begin(), args.end());  // CLI11 takes them back to front
  app.parse(args);
  return overrides;
}

TEST(ConfigTest, EmptyConfigGivesDefaults) {
  auto s = Resolve("{}");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->data_root, "/var/lib/kapsel");
  EXPECT_EQ(s->exec_root, "/run/kapsel");
  EXPECT_EQ(s->socket_path, "/run/kapsel/kapsel.sock");
  EXPECT_EQ(s->socket_group, "kapsel");
  EXPECT_FALSE(s->socket_group_explicit);
  EXPECT_EQ(s->log_level, "info");
  EXPECT_EQ(s->log_format, LogFormat::kText);
  EXPECT_EQ(s->log_rotation.max_size_bytes, 20 << 20);
  EXPECT_EQ(s->log_rotation.max_files, 5);
  EXPECT_TRUE(s->ip_forward);
  EXPECT_FALSE(s->metrics.has_value());
  // An empty file is an empty configuration.
  EXPECT_TRUE(Resolve("  \n").ok());
}

TEST(ConfigTest, ReadsEveryField) {
  auto s = Resolve(R"({
    "data_root": "/srv/kapsel/", "exec_root": "/run/k", "socket_group": "docker",
    "log_level": "debug", "log_format": "json",
    "log_rotation": {"max_size": "8k", "max_files": 2},
    "bridge_subnet": "10.99.0.0/16", "ip_forward": false, "cgroup_parent": "kapsel",
    "default_ulimits": [{"name": "nofile", "soft": 1024, "hard": 4096},
                        {"name": "core", "soft": -1, "hard": -1}],
    "insecure_registries": ["localhost:5000"],
    "metrics": "127.0.0.1:9323"})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->data_root, "/srv/kapsel");
  EXPECT_EQ(s->socket_path, "/run/k/kapsel.sock");
  EXPECT_TRUE(s->socket_group_explicit);
  EXPECT_EQ(s->log_format, LogFormat::kJson);
  EXPECT_EQ(s->log_rotation.max_size_bytes, 8192);
  EXPECT_EQ(s->log_rotation.max_files, 2);
  EXPECT_EQ(s->bridge_subnet, "10.99.0.0/16");
  EXPECT_FALSE(s->ip_forward);
  ASSERT_EQ(s->default_ulimits.size(), 2u);
  EXPECT_EQ(s->default_ulimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(s->default_ulimits[0].soft, 1024u);
  EXPECT_EQ(s->default_ulimits[1].hard, RLIM_INFINITY);
  EXPECT_THAT(s->insecure_registries, ElementsAre("localhost:5000"));
  ASSERT_TRUE(s->metrics.has_value());
  EXPECT_EQ(s->metrics->kind, ListenAddress::Kind::kTcp);
  EXPECT_EQ(s->metrics->port, 9323);
  // lowerCamelCase names work too (protobuf's JSON mapping).
  auto camel = Resolve(R"({"dataRoot": "/d", "logLevel": "warn"})");
  ASSERT_TRUE(camel.ok()) << camel.status();
  EXPECT_EQ(camel->data_root, "/d");
  EXPECT_EQ(camel->log_level, "warn");
}

TEST(ConfigTest, UnknownFieldIsAnErrorNamingIt) {
  auto s = Resolve(R"({"log_level": "info", "frobnicate": true})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("frobnicate"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("unknown field"));
  auto nested = Resolve(R"({"log_rotation": {"max_sizes": "1m"}})");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(), "log_rotation.max_sizes: unknown field");
}

TEST(ConfigTest, WrongTypeIsAnError) {
  auto s = Resolve(R"({"ip_forward": 1})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "ip_forward: invalid value 1 (want true or false)");
  auto nested = Resolve(R"({"log_rotation": {"max_files": "x"}})");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(),
            "log_rotation.max_files: invalid value \"x\" (want an integer)");
  EXPECT_FALSE(Resolve("{").ok());
}

TEST(ConfigTest, BadValuesNameTheirField) {
  struct Case {
    const char* json;
    const char* field;
  } cases[] = {
      {R"({"bridge_subnet": "10.0.0.1/24"})", "bridge_subnet: "},
      {R"({"bridge_subnet": "300.0.0.0/24"})", "bridge_subnet: "},
      {R"({"log_level": "verbose"})", "log_level: "},
      {R"({"log_format": "xml"})", "log_format: "},
      {R"({"data_root": "relative/dir"})", "data_root: "},
      {R"({"exec_root": ""})", nullptr},  // empty: the default
      {R"({"log_rotation": {"max_size": "1k"}})", "log_rotation.max_size: "},
      {R"({"log_rotation": {"max_size": "20q"}})", "log_rotation.max_size: "},
      {R"({"log_rotation": {"max_files": -1}})", "log_rotation.max_files: "},
      {R"({"default_ulimits": [{"name": "nofiles", "soft": 1, "hard": 1}]})",
       "default_ulimits[0]: "},
      {R"({"default_ulimits": [{"name": "nofile", "soft": 10, "hard": 1}]})",
       "default_ulimits[0]: "},
      {R"({"default_ulimits": [{"name": "nofile", "soft": 1, "hard": 1},
                              {"name": "nofile", "soft": 2, "hard": 2}]})",
       "default_ulimits[1]: "},
      {R"({"metrics": "0.0.0.0:9323"})", "metrics: "},
      {R"({"metrics": "10.1.2.3:9323"})", "metrics: "},
      {R"({"metrics": "127.0.0.1:0"})", "metrics: "},
      {R"({"metrics": "unix:relative.sock"})", "metrics: "},
      {R"({"socket_group": "bad group"})", "socket_group: "},
      {R"({"cgroup_parent": "/abs"})", "cgroup_parent: "},
      {R"({"cgroup_parent": "a/../b"})", "cgroup_parent: "},
      {R"({"cgroup_parent": "a b"})", "cgroup_parent: "},
      {R"({"cgroup_parent": "kapsel/"})", "cgroup_parent: "},
      {R"({"insecure_registries": ["http://x"]})", "insecure_registries[0]: "},
  };
  for (const Case& c : cases) {
    auto s = Resolve(c.json);
    if (c.field == nullptr) {
      EXPECT_TRUE(s.ok()) << c.json << ": " << s.status();
      continue;
    }
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(s.status().message()), StartsWith(c.field)) << c.json;
  }
}

TEST(ConfigTest, LoopbackMetricsAddresses) {
  for (const char* ok : {"127.0.0.1:9323", "127.1.2.3:1", "localhost:9323", "[::1]:9323",
                         "unix:/run/kapsel/metrics.sock"}) {
    EXPECT_TRUE(ParseListenAddress(ok).ok()) << ok;
  }
  auto v6 = ParseListenAddress("[::]:9323");
  ASSERT_FALSE(v6.ok());
  EXPECT_THAT(std::string(v6.status().message()), HasSubstr("not a loopback address"));
}

TEST(ConfigTest, UsernsRemapAndCgroupParent) {
  auto remap = Resolve(R"({"userns_remap": "default"})");
  ASSERT_TRUE(remap.ok()) << remap.status();
  EXPECT_EQ(remap->userns_remap, "default");
  EXPECT_EQ(Resolve(R"({"userns_remap": "dockremap:dockremap"})")->userns_remap,
            "dockremap:dockremap");
  EXPECT_EQ(Resolve("{}")->userns_remap, "");
  auto bad_remap = Resolve(R"({"userns_remap": "a b"})");
  ASSERT_FALSE(bad_remap.ok());
  EXPECT_THAT(std::string(bad_remap.status().message()), StartsWith("userns_remap: "));
  EXPECT_THAT(std::string(bad_remap.status().message()), HasSubstr("USER[:GROUP]"));
  auto parent = Resolve(R"({"cgroup_parent": "machine.slice/kapsel"})");
  ASSERT_TRUE(parent.ok()) << parent.status();
  EXPECT_EQ(parent->cgroup_parent, "machine.slice/kapsel");
  EXPECT_EQ(Resolve("{}")->cgroup_parent, "kapsel");
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("4096"), 4096);
  EXPECT_EQ(*ParseByteSize("8k"), 8192);
  EXPECT_EQ(*ParseByteSize("20m"), 20 << 20);
  EXPECT_EQ(*ParseByteSize("20MiB"), 20 << 20);
  EXPECT_EQ(*ParseByteSize("1G"), int64_t{1} << 30);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("m").ok());
  EXPECT_FALSE(ParseByteSize("1t").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999999999").ok());
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  auto file = ParseConfig(R"({"data_root": "/file", "log_level": "warn", "ip_forward": true,
    "log_rotation": {"max_size": "1m", "max_files": 3},
    "default_ulimits": [{"name": "nofile", "soft": 1, "hard": 1}]})");
  ASSERT_TRUE(file.ok()) << file.status();
  v1::DaemonConfig flags = Flags({"--log-level", "debug", "--no-ip-forward", "--log-max-size", "2m",
                                  "--default-ulimit", "nproc=10:20"});
  ApplyOverrides(flags, &*file);
  auto s = ResolveSettings(*file);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->data_root, "/file");  // not given as a flag: the file's
  EXPECT_EQ(s->log_level, "debug");  // the flag's
  EXPECT_FALSE(s->ip_forward);       // a flag may set false over true
  EXPECT_EQ(s->log_rotation.max_size_bytes, 2 << 20);
  EXPECT_EQ(s->log_rotation.max_files, 3);   // message fields merge field by field
  ASSERT_EQ(s->default_ulimits.size(), 1u);  // a repeated flag replaces the list
  EXPECT_EQ(s->default_ulimits[0].type, "RLIMIT_NPROC");
  EXPECT_EQ(s->default_ulimits[0].hard, 20u);
  EXPECT_THROW(Flags({"--default-ulimit", "nofile"}), CLI::ValidationError);
}

TEST(ConfigTest, LoadConfigFile) {
  char dir[] = "/tmp/kapsel-config-test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string missing = std::string(dir) + "/missing.json";
  auto absent = LoadConfigFile(missing, /*required=*/false);
  ASSERT_TRUE(absent.ok()) << absent.status();
  auto required = LoadConfigFile(missing, /*required=*/true);
  ASSERT_FALSE(required.ok());
  EXPECT_THAT(std::string(required.status().message()), HasSubstr(missing));
  const std::string bad = std::string(dir) + "/bad.json";
  std::ofstream(bad) << R"({"log_level": "loud"})";
  auto settings = LoadSettings(bad, true, v1::DaemonConfig());
  ASSERT_FALSE(settings.ok());
  EXPECT_THAT(std::string(settings.status().message()), HasSubstr("log_level"));
  // A flag can fix what the file gets wrong.
  v1::DaemonConfig fix;
  fix.set_log_level("info");
  EXPECT_TRUE(LoadSettings(bad, true, fix).ok());
  unlink(bad.c_str());
  rmdir(dir);
}

TEST(ConfigTest, ReloadPlanSplitsReloadableFields) {
  auto a = ParseConfig(R"({"log_level": "info", "data_root": "/a"})");
  auto b = ParseConfig(
      R"({"log_level": "debug", "data_root": "/b", "log_rotation": {"max_size": "20m"}})");
  ASSERT_TRUE(a.ok() && b.ok());
  v1::DaemonConfig running = Normalize(*a);
  v1::DaemonConfig fresh = Normalize(*b);
  ReloadPlan plan = PlanReload(running, fresh);
  // max_size 20m is the default: no change.
  EXPECT_THAT(plan.applied, ElementsAre("log_level"));
  EXPECT_THAT(plan.restart_needed, ElementsAre("data_root"));
  ApplyReload(plan, fresh, &running);
  EXPECT_EQ(running.log_level(), "debug");
  EXPECT_EQ(running.data_root(), "/a");
  // The restart-only change is reported again on the next reload.
  ReloadPlan again = PlanReload(running, fresh);
  EXPECT_TRUE(again.applied.empty());
  EXPECT_THAT(again.restart_needed, ElementsAre("data_root"));
}

}  // namespace
}  // namespace kapsel::daemon
