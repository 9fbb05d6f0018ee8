#include "runtime/spec.h"

#include <sys/resource.h>

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kapsel::runtime {
namespace {

using nlohmann::json;

json MinimalConfig() {
  return {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", "/srv/rootfs"}}},
      {"process", {{"args", {"/bin/sh"}}, {"cwd", "/"}}},
      {"linux", {{"namespaces", {{{"type", "mount"}}, {{"type", "pid"}}}}}},
  };
}

// Parses `config` and expects a refusal whose message starts with `field`, followed by ": ".
void ExpectFieldError(const json& config, const std::string& field,
                      const std::string& bundle = "/bundle") {
  auto spec = ParseSpec(config.dump(), bundle);
  ASSERT_FALSE(spec.ok()) << "accepted: " << config.dump();
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  EXPECT_EQ(std::string(spec.status().message()).rfind(field + ": ", 0), 0u)
      << "error does not start with \"" << field << ": \": " << spec.status();
}

TEST(ParseSpecTest, AcceptsMinimalConfig) {
  auto spec = ParseSpec(MinimalConfig().dump(), "/bundle");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->oci_version, "1.0.2");
  EXPECT_EQ(spec->root_path, "/srv/rootfs");
  EXPECT_FALSE(spec->root_readonly);
  ASSERT_EQ(spec->process.args.size(), 1u);
  EXPECT_EQ(spec->process.args[0], "/bin/sh");
  EXPECT_EQ(spec->process.cwd, "/");
  EXPECT_EQ(spec->process.user.uid, 0u);
  EXPECT_FALSE(spec->process.capabilities.has_value());
  ASSERT_EQ(spec->namespaces.size(), 2u);
  EXPECT_EQ(spec->namespaces[0].type, NamespaceType::kMount);
  EXPECT_EQ(spec->namespaces[1].type, NamespaceType::kPid);
  EXPECT_TRUE(spec->namespaces[0].path.empty());
  EXPECT_TRUE(spec->HasNamespace(NamespaceType::kPid));
  EXPECT_FALSE(spec->HasNamespace(NamespaceType::kUser));
  EXPECT_TRUE(spec->mounts.empty());
  EXPECT_FALSE(spec->resources.memory_limit.has_value());
}

TEST(ParseSpecTest, ResolvesRelativeRootAgainstBundle) {
  json config = MinimalConfig();
  config["root"]["path"] = "rootfs";
  auto spec = ParseSpec(config.dump(), "/var/lib/kapsel/bundles/c1");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->root_path, "/var/lib/kapsel/bundles/c1/rootfs");
}

TEST(ParseSpecTest, ParsesResourcesUserAndRlimits) {
  json config = MinimalConfig();
  config["process"]["user"] = {
      {"uid", 1000}, {"gid", 100}, {"additionalGids", {5, 6}}, {"umask", 18}};
  config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 1024}, {"hard", 4096}}};
  config["process"]["capabilities"] = {{"bounding", {"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}}};
  config["linux"]["resources"] = {{"memory", {{"limit", 104857600}, {"swap", -1}}},
                                  {"cpu", {{"quota", 50000}, {"period", 100000}}},
                                  {"pids", {{"limit", 20}}},
                                  {"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  auto spec = ParseSpec(config.dump(), "/bundle");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->process.user.uid, 1000u);
  EXPECT_EQ(spec->process.user.gid, 100u);
  EXPECT_EQ(spec->process.user.additional_gids, (std::vector<gid_t>{5, 6}));
  EXPECT_EQ(spec->process.user.umask, mode_t{022});
  ASSERT_EQ(spec->process.rlimits.size(), 1u);
  EXPECT_EQ(spec->process.rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(spec->process.rlimits[0].soft, 1024u);
  EXPECT_EQ(spec->process.rlimits[0].hard, 4096u);
  ASSERT_TRUE(spec->process.capabilities.has_value());
  EXPECT_EQ(spec->process.capabilities->bounding, (uint64_t{1} << 0) | (uint64_t{1} << 10));
  EXPECT_EQ(spec->resources.memory_limit, int64_t{104857600});
  EXPECT_EQ(spec->resources.memory_swap, int64_t{-1});
  EXPECT_EQ(spec->resources.cpu_quota, int64_t{50000});
  EXPECT_EQ(spec->resources.cpu_period, uint64_t{100000});
  EXPECT_EQ(spec->resources.pids_limit, int64_t{20});
  ASSERT_EQ(spec->resources.devices.size(), 1u);
  EXPECT_FALSE(spec->resources.devices[0].allow);
  EXPECT_EQ(spec->resources.devices[0].type, 'a');
}

TEST(ParseSpecTest, RefusesInvalidJson) {
  auto spec = ParseSpec("{\"ociVersion\": ", "/bundle");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseSpecTest, RefusesUnknownNamespaceType) {
  json config = MinimalConfig();
  config["linux"]["namespaces"][0]["type"] = "mnt";
  ExpectFieldError(config, "linux.namespaces[0].type");
}

TEST(ParseSpecTest, RefusesNamespaceGivenTwice) {
  json config = MinimalConfig();
  config["linux"]["namespaces"][1]["type"] = "mount";
  ExpectFieldError(config, "linux.namespaces[1].type");
}

TEST(ParseSpecTest, RefusesNegativeMemoryLimit) {
  json config = MinimalConfig();
  config["linux"]["resources"] = {{"memory", {{"limit", -5}}}};
  auto spec = ParseSpec(config.dump(), "/bundle");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "linux.resources.memory.limit: must be positive");
}

TEST(ParseSpecTest, ParsesHugepageLimits) {
  json config = MinimalConfig();
  config["linux"]["resources"] = {{"hugepageLimits", {{{"pageSize", "2MB"}, {"limit", 4194304}}}}};
  auto spec = ParseSpec(config.dump(), "/bundle");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->resources.hugepage_limits.size(), 1u);
  EXPECT_EQ(spec->resources.hugepage_limits[0].page_size, "2MB");
  EXPECT_EQ(spec->resources.hugepage_limits[0].limit, 4194304u);
  config["linux"]["resources"]["hugepageLimits"][0]["pageSize"] = "2MB/../x";
  ExpectFieldError(config, "linux.resources.hugepageLimits[0].pageSize");
}

TEST(ParseSpecTest, RefusesUnsupportedResources) {
  json config = MinimalConfig();
  config["linux"]["resources"] = {{"rdma", json::object()}};
  ExpectFieldError(config, "linux.resources.rdma");
}

TEST(ParseSpecTest, RefusesSwapBelowMemoryLimit) {
  json config = MinimalConfig();
  config["linux"]["resources"] = {{"memory", {{"limit", 200}, {"swap", 100}}}};
  ExpectFieldError(config, "linux.resources.memory.swap");
}

TEST(ParseSpecTest, RefusesRelativeRootWithoutAbsoluteBundle) {
  json config = MinimalConfig();
  config["root"]["path"] = "rootfs";
  ExpectFieldError(config, "root.path", "");
  ExpectFieldError(config, "root.path", "bundles/c1");
}

TEST(ParseSpecTest, RefusesRootPathWithDotDot) {
  json config = MinimalConfig();
  config["root"]["path"] = "../../etc";
  ExpectFieldError(config, "root.path");
}

TEST(ParseSpecTest, RefusesBadMountDestinations) {
  for (const char* destination : {"..", "/a/../b", "relative/path", "/..", "/"}) {
    SCOPED_TRACE(destination);
    json config = MinimalConfig();
    config["mounts"] = {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
                        {{"destination", destination}, {"type", "tmpfs"}, {"source", "tmpfs"}}};
    ExpectFieldError(config, "mounts[1].destination");
  }
}

TEST(ParseSpecTest, RefusesBindMountWithRelativeSource) {
  json config = MinimalConfig();
  config["mounts"] = {{{"destination", "/data"}, {"type", "bind"}, {"source", "data"}}};
  ExpectFieldError(config, "mounts[0].source");
}

TEST(ParseSpecTest, RefusesUnknownRlimitType) {
  json config = MinimalConfig();
  config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 1}, {"hard", 2}},
                                  {{"type", "RLIMIT_BOGUS"}, {"soft", 1}, {"hard", 2}}};
  ExpectFieldError(config, "process.rlimits[1].type");
}

TEST(ParseSpecTest, RefusesSoftRlimitAboveHard) {
  json config = MinimalConfig();
  config["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 4096}, {"hard", 1024}}};
  ExpectFieldError(config, "process.rlimits[0]");
}

TEST(ParseSpecTest, RefusesUnknownCapability) {
  json config = MinimalConfig();
  config["process"]["capabilities"] = {{"effective", {"CAP_CHOWN", "CAP_MAKE_COFFEE"}}};
  ExpectFieldError(config, "process.capabilities.effective[1]");
}

TEST(ParseSpecTest, RefusesUmaskAbove0777) {
  json config = MinimalConfig();
  config["process"]["user"] = {{"uid", 0}, {"gid", 0}, {"umask", 01000}};
  ExpectFieldError(config, "process.user.umask");
  config["process"]["user"]["umask"] = 0777;
  EXPECT_TRUE(ParseSpec(config.dump(), "/bundle").ok());
}

TEST(ParseSpecTest, RefusesOciVersion2) {
  json config = MinimalConfig();
  config["ociVersion"] = "2.0";
  ExpectFieldError(config, "ociVersion");
  config.erase("ociVersion");
  ExpectFieldError(config, "ociVersion");
}

TEST(ParseSpecTest, RefusesMissingOrEmptyArgs) {
  json config = MinimalConfig();
  config["process"].erase("args");
  ExpectFieldError(config, "process.args");
  config["process"]["args"] = json::array();
  ExpectFieldError(config, "process.args");
  config["process"]["args"] = {""};
  ExpectFieldError(config, "process.args[0]");
}

TEST(ParseSpecTest, RefusesArgsOfWrongType) {
  json config = MinimalConfig();
  config["process"]["args"] = "/bin/sh";
  ExpectFieldError(config, "process.args");
}

TEST(ParseSpecTest, RefusesHostnameWithoutUtsNamespace) {
  json config = MinimalConfig();
  config["hostname"] = "box";
  ExpectFieldError(config, "hostname");
  config["linux"]["namespaces"].push_back({{"type", "uts"}});
  auto spec = ParseSpec(config.dump(), "/bundle");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->hostname, "box");
}

TEST(ParseSpecTest, RefusesUserNamespaceWithoutMappings) {
  json config = MinimalConfig();
  config["linux"]["namespaces"].push_back({{"type", "user"}});
  ExpectFieldError(config, "linux.uidMappings");
  config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  ExpectFieldError(config, "linux.uidMappings");
  config["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  auto spec = ParseSpec(config.dump(), "/bundle");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->uid_mappings.size(), 1u);
  EXPECT_EQ(spec->uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(spec->gid_mappings[0].size, 65536u);
}

TEST(ParseSpecTest, RefusesZeroSizedMapping) {
  json config = MinimalConfig();
  config["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 0}}};
  ExpectFieldError(config, "linux.uidMappings[0].size");
}

TEST(ParseSpecTest, RefusesSysctlNameWithSlash) {
  json config = MinimalConfig();
  config["linux"]["sysctl"] = {{"net/ipv4/ip_forward", "1"}};
  ExpectFieldError(config, "linux.sysctl.net/ipv4/ip_forward");
  config["linux"]["sysctl"] = {{"net.ipv4...ip_forward", "1"}};
  ExpectFieldError(config, "linux.sysctl.net.ipv4...ip_forward");
}

TEST(ParseSpecTest, RefusesCgroupsPathWithDotDot) {
  json config = MinimalConfig();
  config["linux"]["cgroupsPath"] = "/kapsel/../../system.slice";
  ExpectFieldError(config, "linux.cgroupsPath");
}

}  // namespace
}  // namespace kapsel::runtime
