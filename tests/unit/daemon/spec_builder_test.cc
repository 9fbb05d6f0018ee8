#include <algorithm>

#include "daemon/oci_spec_builder.h"
#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using nlohmann::json;

class SpecBuilderTest : public ::testing::Test {
 protected:
  absl::StatusOr<json> Build() {
    SpecInputs in;
    in.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    in.rootfs = "/var/lib/kapsel/containers/x/rootfs";
    in.request = &request_;
    in.image_config = &image_;
    in.rootfs_etc_passwd = "root:x:0:0:root:/root:/bin/sh\nweb:x:33:44:web:/var/www:/bin/false\n";
    in.rootfs_etc_group = "root:x:0:\nwww:x:44:\nlogs:x:70:web,other\n";
    in.netns_path = netns_path_;
    in.host_network = host_network_;
    in.init_path = init_path_;
    in.userns_path = userns_path_;
    in.uid_mappings = uid_mappings_;
    in.gid_mappings = gid_mappings_;
    return BuildOciSpec(in);
  }
  v1::ContainerSpec request_;
  std::string netns_path_;
  bool host_network_ = false;
  std::string init_path_;
  std::string userns_path_;
  std::vector<runtime::IdMapping> uid_mappings_, gid_mappings_;
  json image_ = {{"Cmd", {"sh"}}, {"Env", {"PATH=/bin", "A=image"}}};
};

TEST_F(SpecBuilderTest, ImageDefaultsAndDockerSecurityDefaults) {
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["args"], json({"sh"}));
  EXPECT_EQ((*spec)["hostname"], "0123456789ab");
  EXPECT_EQ((*spec)["root"]["path"], "/var/lib/kapsel/containers/x/rootfs");
  EXPECT_EQ((*spec)["process"]["noNewPrivileges"], true);
  EXPECT_EQ((*spec)["process"]["oomScoreAdj"], 0);
  auto caps = (*spec)["process"]["capabilities"]["bounding"].get<std::vector<std::string>>();
  EXPECT_EQ(caps.size(), 14u);
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_NET_BIND_SERVICE"), caps.end());
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN"), caps.end());
  EXPECT_TRUE((*spec)["process"]["capabilities"]["inheritable"].empty());
  auto masked = (*spec)["linux"]["maskedPaths"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(masked.begin(), masked.end(), "/proc/kcore"), masked.end());
  auto ro = (*spec)["linux"]["readonlyPaths"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/proc/sys"), ro.end());
  std::vector<std::string> ns;
  for (const auto& n : (*spec)["linux"]["namespaces"]) ns.push_back(n["type"]);
  for (const char* want : {"pid", "mount", "uts", "ipc", "network", "cgroup"}) {
    EXPECT_NE(std::find(ns.begin(), ns.end(), want), ns.end()) << want;
  }
  EXPECT_EQ((*spec)["linux"]["cgroupsPath"],
            "kapsel/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  EXPECT_FALSE((*spec)["linux"]["resources"]["devices"][0]["allow"].get<bool>());
}

// The namespaces of `type` in the spec.
std::vector<json> NamespacesOf(const json& spec, const std::string& type) {
  std::vector<json> out;
  for (const auto& n : spec["linux"]["namespaces"]) {
    if (n["type"] == type) out.push_back(n);
  }
  return out;
}

TEST_F(SpecBuilderTest, NetworkNamespaceMadeByTheDaemonIsJoinedByPath) {
  netns_path_ = "/run/kapsel/netns/0123";
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto network = NamespacesOf(*spec, "network");
  ASSERT_EQ(network.size(), 1u);
  EXPECT_EQ(network[0]["path"], "/run/kapsel/netns/0123");

  host_network_ = true;
  spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(NamespacesOf(*spec, "network").empty());
}

TEST_F(SpecBuilderTest, RemappedContainerJoinsItsUserNamespaceWithItsMaps) {
  auto plain = Build();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(NamespacesOf(*plain, "user").empty());
  EXPECT_FALSE((*plain)["linux"].contains("uidMappings"));

  userns_path_ = "/run/kapsel/userns/0123";
  uid_mappings_ = {{0, 100000, 65536}};
  gid_mappings_ = {{0, 200000, 65536}, {65536, 300000, 10}};
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  auto user = NamespacesOf(*spec, "user");
  ASSERT_EQ(user.size(), 1u);
  EXPECT_EQ(user[0]["path"], "/run/kapsel/userns/0123");
  EXPECT_EQ((*spec)["linux"]["uidMappings"],
            json::parse(R"([{"containerID":0,"hostID":100000,"size":65536}])"));
  EXPECT_EQ((*spec)["linux"]["gidMappings"][1],
            json::parse(R"({"containerID":65536,"hostID":300000,"size":10})"));
}

TEST(HomeOfTest, FromPasswdElseDockerDefaults) {
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
      "odd:x:7:7:odd:relative:/bin/sh\n";
  EXPECT_EQ(HomeOf(0, passwd), "/root");
  EXPECT_EQ(HomeOf(65534, passwd), "/home");
  EXPECT_EQ(HomeOf(1000, passwd), "/");
  EXPECT_EQ(HomeOf(7, passwd), "/");  // not an absolute path
  EXPECT_EQ(HomeOf(0, ""), "/root");
}

TEST_F(SpecBuilderTest, RequestOverridesImage) {
  request_.add_cmd("echo");
  request_.add_cmd("hi");
  request_.add_env("A=request");
  request_.add_env("B=2");
  request_.set_working_dir("/tmp");
  request_.set_hostname("web1");
  request_.set_read_only_rootfs(true);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["args"], json({"echo", "hi"}));
  auto env = (*spec)["process"]["env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(), "A=request"), env.end());
  EXPECT_EQ(std::find(env.begin(), env.end(), "A=image"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "B=2"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "HOSTNAME=web1"), env.end());
  EXPECT_EQ((*spec)["process"]["cwd"], "/tmp");
  EXPECT_EQ((*spec)["hostname"], "web1");
  EXPECT_EQ((*spec)["root"]["readonly"], true);
}

TEST_F(SpecBuilderTest, EntrypointReplacesImageCmd) {
  image_["Entrypoint"] = {"/bin/app"};
  image_["Cmd"] = {"--default"};
  EXPECT_EQ(ResolveCommand(request_, image_), std::vector<std::string>({"/bin/app", "--default"}));
  request_.add_cmd("--flag");
  EXPECT_EQ(ResolveCommand(request_, image_), std::vector<std::string>({"/bin/app", "--flag"}));
  request_.add_entrypoint("/bin/other");
  request_.clear_cmd();
  EXPECT_EQ(ResolveCommand(request_, image_), std::vector<std::string>({"/bin/other"}));
}

TEST_F(SpecBuilderTest, EmptyCommandIsRefused) {
  image_.erase("Cmd");
  auto spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("no command specified"), absl::string_view::npos);
}

TEST_F(SpecBuilderTest, UserByNameGetsGroupsAndNoEffectiveCaps) {
  request_.set_user("web");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["user"]["uid"], 33);
  EXPECT_EQ((*spec)["process"]["user"]["gid"], 44);
  EXPECT_EQ((*spec)["process"]["user"]["additionalGids"], json({70}));
  EXPECT_TRUE((*spec)["process"]["capabilities"]["effective"].empty());
  EXPECT_FALSE((*spec)["process"]["capabilities"]["bounding"].empty());
}

TEST_F(SpecBuilderTest, UserForms) {
  uint32_t uid = 9, gid = 9;
  std::vector<uint32_t> groups;
  const std::string passwd = "root:x:0:0::/:/bin/sh\nweb:x:33:44::/:/bin/sh\n";
  const std::string group = "www:x:44:\nstaff:x:50:\n";
  ASSERT_TRUE(ResolveUser("1000:1001", passwd, group, &uid, &gid, &groups).ok());
  EXPECT_EQ(uid, 1000u);
  EXPECT_EQ(gid, 1001u);
  ASSERT_TRUE(ResolveUser("33", passwd, group, &uid, &gid, &groups).ok());
  EXPECT_EQ(gid, 44u);
  ASSERT_TRUE(ResolveUser("web:staff", passwd, group, &uid, &gid, &groups).ok());
  EXPECT_EQ(gid, 50u);
  auto s = ResolveUser("nobody", passwd, group, &uid, &gid, &groups);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nobody"), absl::string_view::npos);
  EXPECT_FALSE(ResolveUser("web:nogroup", passwd, group, &uid, &gid, &groups).ok());
}

TEST_F(SpecBuilderTest, Resources) {
  request_.mutable_resources()->set_memory_limit_bytes(100 << 20);
  request_.mutable_resources()->set_cpus(0.5);
  request_.mutable_resources()->set_pids_limit(64);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["linux"]["resources"]["memory"]["limit"], 100 << 20);
  EXPECT_EQ((*spec)["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ((*spec)["linux"]["resources"]["cpu"]["period"], 100000);
  EXPECT_EQ((*spec)["linux"]["resources"]["pids"]["limit"], 64);
}

TEST_F(SpecBuilderTest, VolumesBecomeBindMounts) {
  v1::MountSpec* m = request_.add_mounts();
  m->set_host_path("/tmp");
  m->set_container_path("/data//in/");
  m->set_recursive(true);
  m->set_read_only(true);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  const json& last = (*spec)["mounts"].back();
  EXPECT_EQ(last["destination"], "/data/in");
  EXPECT_EQ(last["type"], "bind");
  EXPECT_EQ(last["source"], "/tmp");
  // Read-only reaches the submounts of the recursive bind too.
  EXPECT_EQ(last["options"], json({"rbind", "rro", "rprivate"}));
}

TEST_F(SpecBuilderTest, BadVolumesAreRefusedWithTheReason) {
  struct Case {
    const char* host;
    const char* container;
    const char* want;
  } cases[] = {
      {"relative", "/data", "host path must be absolute"},
      {"/nonexistent-kapsel-volume", "/data", "host path /nonexistent-kapsel-volume"},
      {"/tmp", "data", "container path must be absolute"},
      {"/tmp", "/data/../etc", "must not contain . or .."},
      {"/tmp", "/", "cannot mount over /"},
      {"/tmp", "/proc/sys", "cannot mount over /proc/sys"},
  };
  for (const Case& c : cases) {
    request_.clear_mounts();
    v1::MountSpec* m = request_.add_mounts();
    m->set_host_path(c.host);
    m->set_container_path(c.container);
    auto spec = Build();
    ASSERT_FALSE(spec.ok()) << c.host << ":" << c.container;
    EXPECT_NE(spec.status().message().find(c.want), std::string::npos) << spec.status();
  }
  request_.clear_mounts();
  for (int i = 0; i < 2; ++i) {
    v1::MountSpec* m = request_.add_mounts();
    m->set_host_path("/tmp");
    m->set_container_path("/data");
  }
  auto spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("/data is mounted twice"), std::string::npos)
      << spec.status();
}

TEST_F(SpecBuilderTest, BadRequestsNameTheField) {
  request_.mutable_resources()->set_memory_limit_bytes(1024);
  auto spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("memory"), absl::string_view::npos);
  request_.mutable_resources()->set_memory_limit_bytes(0);
  request_.set_working_dir("relative");
  spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("working dir"), absl::string_view::npos);
  request_.set_working_dir("");
  request_.add_env("=x");
  spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("env"), absl::string_view::npos);
}

}  // namespace
}  // namespace kapsel::daemon

namespace kapsel::daemon {
namespace {

const json* MountAt(const json& spec, const std::string& destination) {
  for (const json& m : spec["mounts"]) {
    if (m["destination"] == destination) return &m;
  }
  return nullptr;
}

TEST_F(SpecBuilderTest, TmpfsTakesDockerDefaultsAndTheGivenOptions) {
  (*request_.mutable_tmpfs())["/run"] = "";
  (*request_.mutable_tmpfs())["/scratch"] = "size=1m,mode=1777,exec,uid=33";
  (*request_.mutable_tmpfs())["/scratch/sub"] = "ro";
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  const json* run = MountAt(*spec, "/run");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ((*run)["type"], "tmpfs");
  EXPECT_EQ((*run)["options"], json({"rw", "nosuid", "nodev", "noexec"}));
  const json* scratch = MountAt(*spec, "/scratch");
  ASSERT_NE(scratch, nullptr);
  EXPECT_EQ((*scratch)["options"],
            json({"rw", "nosuid", "nodev", "exec", "mode=1777", "size=1m", "uid=33"}));
  const json* sub = MountAt(*spec, "/scratch/sub");
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ((*sub)["options"], json({"nosuid", "nodev", "noexec", "ro"}));
  // The parent is mounted before what lies under it.
  std::vector<std::string> order;
  for (const json& m : (*spec)["mounts"]) order.push_back(m["destination"]);
  EXPECT_LT(std::find(order.begin(), order.end(), "/scratch"),
            std::find(order.begin(), order.end(), "/scratch/sub"));
}

TEST_F(SpecBuilderTest, BadTmpfsIsRefusedWithTheReason) {
  const std::vector<std::pair<std::pair<std::string, std::string>, std::string>> cases = {
      {{"relative", ""}, "tmpfs relative: the destination must be a clean absolute path"},
      {{"/", ""}, "tmpfs /: the destination must be a clean absolute path"},
      {{"/a/../b", ""}, "tmpfs /a/../b: the destination must be a clean absolute path"},
      {{"/t", "bogus"}, "tmpfs /t: unknown option \"bogus\""},
      {{"/t", "size=lots"}, "tmpfs /t: bad value in \"size=lots\""},
      {{"/t", "size="}, "tmpfs /t: bad value in \"size=\""},
      {{"/t", "mode=999"}, "tmpfs /t: bad value in \"mode=999\""},
      {{"/t", "uid=-1"}, "tmpfs /t: bad value in \"uid=-1\""},
      {{"/data", ""}, "tmpfs /data: /data is mounted twice"},
  };
  for (const auto& [tmpfs, want] : cases) {
    request_.clear_tmpfs();
    request_.clear_mounts();
    v1::MountSpec* volume = request_.add_mounts();
    volume->set_host_path("/tmp");
    volume->set_container_path("/data");
    (*request_.mutable_tmpfs())[tmpfs.first] = tmpfs.second;
    auto spec = Build();
    ASSERT_FALSE(spec.ok()) << tmpfs.first << ":" << tmpfs.second;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(want), std::string::npos) << spec.status();
  }
}

TEST_F(SpecBuilderTest, InitRunsTheCommandUnderTiniMountedReadOnlyOnDev) {
  auto plain = Build();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(MountAt(*plain, "/dev/init"), nullptr);

  init_path_ = "/usr/bin/tini-static";
  request_.add_cmd("sleep");
  request_.add_cmd("5");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["args"], json({"/dev/init", "--", "sleep", "5"}));
  const json* init = MountAt(*spec, "/dev/init");
  ASSERT_NE(init, nullptr);
  EXPECT_EQ((*init)["source"], "/usr/bin/tini-static");
  EXPECT_EQ((*init)["type"], "bind");
  auto options = (*init)["options"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(options.begin(), options.end(), "ro"), options.end());
  // Mounted after the /dev tmpfs, which would otherwise cover it.
  std::vector<std::string> order;
  for (const json& m : (*spec)["mounts"]) order.push_back(m["destination"]);
  EXPECT_LT(std::find(order.begin(), order.end(), "/dev"),
            std::find(order.begin(), order.end(), "/dev/init"));
}

TEST(ExtraHostsTest, LinesInOrderWithHostGatewayAndIpv6) {
  google::protobuf::RepeatedPtrField<std::string> hosts;
  for (const char* h : {"db.example:10.1.2.3", "gw:host-gateway", "v6:fd00::7", "b=[::1]"}) {
    *hosts.Add() = h;
  }
  auto lines = ExtraHostsLines(hosts, "10.213.0.1");
  ASSERT_TRUE(lines.ok()) << lines.status();
  EXPECT_EQ(*lines, "10.1.2.3\tdb.example\n10.213.0.1\tgw\nfd00::7\tv6\n::1\tb\n");
}

TEST(ExtraHostsTest, BadValuesNameWhatIsWrong) {
  struct Case {
    const char* entry;
    const char* gateway;
    const char* want;
  } cases[] = {
      {"nocolon", "10.0.0.1", "no ':'"},
      {":10.1.1.1", "10.0.0.1", "host name"},
      {"a b:10.1.1.1", "10.0.0.1", "host name"},
      {"-x:10.1.1.1", "10.0.0.1", "host name"},
      {"x:999.1.1.1", "10.0.0.1", "\"999.1.1.1\" is not an IPv4 or IPv6 address"},
      {"x:", "10.0.0.1", "is not an IPv4"},
      {"x:host-gateway", "", "host-gateway needs a bridge network"},
  };
  for (const Case& c : cases) {
    google::protobuf::RepeatedPtrField<std::string> hosts;
    *hosts.Add() = c.entry;
    auto lines = ExtraHostsLines(hosts, c.gateway);
    ASSERT_FALSE(lines.ok()) << c.entry;
    EXPECT_EQ(lines.status().code(), absl::StatusCode::kInvalidArgument) << c.entry;
    EXPECT_NE(lines.status().message().find(c.want), std::string::npos) << lines.status();
    EXPECT_NE(lines.status().message().find("--add-host"), std::string::npos) << lines.status();
  }
}

TEST(HostsFileTest, HostnameMapsToTheAddressOrLoopback) {
  EXPECT_NE(HostsFile("web", "10.213.0.5").find("10.213.0.5\tweb\n"), std::string::npos);
  EXPECT_NE(HostsFile("web").find("127.0.1.1\tweb\n"), std::string::npos);
}

}  // namespace
}  // namespace kapsel::daemon
