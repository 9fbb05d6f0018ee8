// The security part of the OCI spec the daemon builds: capabilities from --cap-add/--cap-drop/
// --privileged, no_new_privs, and the seccomp profile (default, Docker-format, unconfined).

#include "daemon/security_options.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "daemon/oci_spec_builder.h"
#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using nlohmann::json;

bool Has(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// The names of the syscalls rules of a linux.seccomp object give `action`.
std::vector<std::string> NamesWith(const json& seccomp, const std::string& action) {
  std::vector<std::string> out;
  for (const auto& rule : seccomp["syscalls"]) {
    if (rule["action"] != action) continue;
    for (const auto& n : rule["names"]) out.push_back(n.get<std::string>());
  }
  return out;
}

TEST(NormalizeCapabilityTest, AcceptsDockerSpellings) {
  for (const char* name : {"net_admin", "NET_ADMIN", "CAP_NET_ADMIN", "cap_net_admin"}) {
    auto cap = NormalizeCapability(name, "--cap-add");
    ASSERT_TRUE(cap.ok()) << name << ": " << cap.status();
    EXPECT_EQ(*cap, "CAP_NET_ADMIN");
  }
  EXPECT_EQ(*NormalizeCapability("all", "--cap-drop"), "ALL");
}

TEST(NormalizeCapabilityTest, RefusesUnknownNames) {
  for (const char* name : {"BOGUS", "", "CAP_", "12", "CAP_NET_ADMIN "}) {
    auto cap = NormalizeCapability(name, "--cap-add");
    ASSERT_FALSE(cap.ok()) << name;
    EXPECT_EQ(cap.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(cap.status().message(), absl::StrCat("--cap-add \"", name, "\": unknown capability"));
  }
}

TEST(ContainerCapabilitiesTest, DockerRules) {
  const std::vector<std::string>& defaults = DefaultCapabilities();
  v1::SecurityOptions sec;
  sec.add_cap_drop("net_bind_service");
  sec.add_cap_add("SYS_ADMIN");
  auto caps = ContainerCapabilities(sec, defaults);
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_FALSE(Has(*caps, "CAP_NET_BIND_SERVICE"));
  EXPECT_TRUE(Has(*caps, "CAP_SYS_ADMIN"));
  EXPECT_TRUE(Has(*caps, "CAP_CHOWN"));

  v1::SecurityOptions only_chown;
  only_chown.add_cap_drop("ALL");
  only_chown.add_cap_add("CHOWN");
  caps = ContainerCapabilities(only_chown, defaults);
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(*caps, std::vector<std::string>{"CAP_CHOWN"});

  v1::SecurityOptions all_but;
  all_but.add_cap_add("ALL");
  all_but.add_cap_drop("SYS_MODULE");
  caps = ContainerCapabilities(all_but, defaults);
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_TRUE(Has(*caps, "CAP_SYS_ADMIN"));
  EXPECT_FALSE(Has(*caps, "CAP_SYS_MODULE"));

  v1::SecurityOptions privileged;
  privileged.set_privileged(true);
  caps = ContainerCapabilities(privileged, defaults);
  ASSERT_TRUE(caps.ok()) << caps.status();
  EXPECT_EQ(*caps, AllCapabilities());
  EXPECT_GE(caps->size(), 38u);

  v1::SecurityOptions bogus;
  bogus.add_cap_drop("BOGUS");
  bogus.set_privileged(true);  // bad names are refused even when they would not matter
  EXPECT_FALSE(ContainerCapabilities(bogus, defaults).ok());
}

TEST(SeccompSectionTest, DefaultProfileFollowsCapabilities) {
  v1::SecurityOptions sec;
  auto seccomp = SeccompSection(sec, DefaultCapabilities());
  ASSERT_TRUE(seccomp.ok()) << seccomp.status();
  EXPECT_EQ((*seccomp)["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_FALSE(Has(NamesWith(*seccomp, "SCMP_ACT_ALLOW"), "mount"));

  std::vector<std::string> caps = DefaultCapabilities();
  caps.push_back("CAP_SYS_ADMIN");
  const nlohmann::json first = *seccomp;
  seccomp = SeccompSection(sec, caps);
  ASSERT_TRUE(seccomp.ok()) << seccomp.status();
  EXPECT_TRUE(Has(NamesWith(*seccomp, "SCMP_ACT_ALLOW"), "mount"));

  // Built once per bounding set and reused: the same section again, not the other set's.
  auto again = SeccompSection(sec, DefaultCapabilities());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, first);
  EXPECT_FALSE(Has(NamesWith(*again, "SCMP_ACT_ALLOW"), "mount"));
}

TEST(SeccompSectionTest, UnconfinedAndPrivilegedHaveNoFilter) {
  v1::SecurityOptions sec;
  sec.set_seccomp_unconfined(true);
  auto seccomp = SeccompSection(sec, DefaultCapabilities());
  ASSERT_TRUE(seccomp.ok());
  EXPECT_TRUE(seccomp->is_null());
  v1::SecurityOptions privileged;
  privileged.set_privileged(true);
  privileged.set_seccomp_profile_json(R"({"defaultAction": "SCMP_ACT_KILL"})");
  seccomp = SeccompSection(privileged, DefaultCapabilities());
  ASSERT_TRUE(seccomp.ok());
  EXPECT_TRUE(seccomp->is_null());
}

TEST(SeccompSectionTest, DockerProfileIsConvertedAndChecked) {
  v1::SecurityOptions sec;
  sec.set_seccomp_profile_json(R"({
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]})");
  auto seccomp = SeccompSection(sec, DefaultCapabilities());
  ASSERT_TRUE(seccomp.ok()) << seccomp.status();
  EXPECT_EQ((*seccomp)["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ((*seccomp)["syscalls"][0]["errnoRet"], 13);

  sec.set_seccomp_profile_json(R"({"defaultAction": "SCMP_ACT_BOGUS"})");
  seccomp = SeccompSection(sec, DefaultCapabilities());
  ASSERT_FALSE(seccomp.ok());
  EXPECT_NE(seccomp.status().message().find("seccomp profile: defaultAction: unknown action"),
            std::string::npos)
      << seccomp.status();

  sec.set_seccomp_profile_json(
      R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"],
          "action": "SCMP_ACT_NOTIFY"}]})");
  seccomp = SeccompSection(sec, DefaultCapabilities());
  ASSERT_FALSE(seccomp.ok());
  EXPECT_EQ(seccomp.status().code(), absl::StatusCode::kUnimplemented);
}

class SecuritySpecTest : public ::testing::Test {
 protected:
  absl::StatusOr<json> Build() {
    SpecInputs in;
    in.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    in.rootfs = "/var/lib/kapsel/containers/x/rootfs";
    in.request = &request_;
    in.image_config = &image_;
    in.rootfs_etc_passwd = "root:x:0:0:root:/root:/bin/sh\n";
    in.host_devices = {{"/dev/sda", 'b', 8, 0, 0660, 0, 6}};
    return BuildOciSpec(in);
  }
  v1::ContainerSpec request_;
  json image_ = {{"Cmd", {"sh"}}};
};

TEST_F(SecuritySpecTest, DefaultsHaveSeccompAndNoNewPrivs) {
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["noNewPrivileges"], true);
  ASSERT_TRUE((*spec)["linux"].contains("seccomp"));
  EXPECT_EQ((*spec)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_FALSE((*spec)["linux"].contains("devices"));
}

TEST_F(SecuritySpecTest, NoNewPrivilegesCanBeTurnedOff) {
  request_.mutable_security()->set_no_new_privileges(false);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ((*spec)["process"]["noNewPrivileges"], false);
}

TEST_F(SecuritySpecTest, CapsReachEveryRootSetButInheritable) {
  request_.mutable_security()->add_cap_drop("NET_BIND_SERVICE");
  request_.mutable_security()->add_cap_add("net_admin");
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  for (const char* set : {"bounding", "effective", "permitted"}) {
    auto caps = (*spec)["process"]["capabilities"][set].get<std::vector<std::string>>();
    EXPECT_FALSE(Has(caps, "CAP_NET_BIND_SERVICE")) << set;
    EXPECT_TRUE(Has(caps, "CAP_NET_ADMIN")) << set;
  }
  EXPECT_TRUE((*spec)["process"]["capabilities"]["inheritable"].empty());
}

TEST_F(SecuritySpecTest, BogusCapabilityIsRefused) {
  request_.mutable_security()->add_cap_add("BOGUS");
  auto spec = Build();
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(), "--cap-add \"BOGUS\": unknown capability");
}

TEST_F(SecuritySpecTest, PrivilegedLikeDocker) {
  request_.mutable_security()->set_privileged(true);
  auto spec = Build();
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
  EXPECT_TRUE((*spec)["linux"]["maskedPaths"].empty());
  EXPECT_TRUE((*spec)["linux"]["readonlyPaths"].empty());
  auto bounding = (*spec)["process"]["capabilities"]["bounding"].get<std::vector<std::string>>();
  EXPECT_TRUE(Has(bounding, "CAP_SYS_ADMIN"));
  EXPECT_TRUE((*spec)["process"]["capabilities"]["inheritable"].empty());
  const json& rules = (*spec)["linux"]["resources"]["devices"];
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_TRUE(rules[0]["allow"].get<bool>());
  ASSERT_EQ((*spec)["linux"]["devices"].size(), 1u);
  EXPECT_EQ((*spec)["linux"]["devices"][0]["path"], "/dev/sda");
  EXPECT_EQ((*spec)["linux"]["devices"][0]["type"], "b");
  for (const auto& m : (*spec)["mounts"]) {
    if (m["destination"] == "/sys") {
      EXPECT_TRUE(Has(m["options"].get<std::vector<std::string>>(), "rw")) << m.dump();
    }
  }
}

}  // namespace
}  // namespace kapsel::daemon
