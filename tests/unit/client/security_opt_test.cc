// --security-opt, --cap-add, --cap-drop and --privileged of run and create.

#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/parse.h"
#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

FileReader FakeFiles(std::map<std::string, std::string> files) {
  return [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end())
      return absl::NotFoundError(absl::StrCat("open ", path, ": no such file"));
    return it->second;
  };
}

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

TEST(ParseSecurityOptTest, Seccomp) {
  v1::SecurityOptions sec;
  ASSERT_TRUE(ParseSecurityOpt("seccomp=/p.json", FakeFiles({{"/p.json", "{}"}}), &sec).ok());
  EXPECT_EQ(sec.seccomp_profile_json(), "{}");
  EXPECT_FALSE(sec.seccomp_unconfined());
  ASSERT_TRUE(ParseSecurityOpt("seccomp:unconfined", FakeFiles({}), &sec).ok());
  EXPECT_TRUE(sec.seccomp_unconfined());
  EXPECT_TRUE(sec.seccomp_profile_json().empty());
}

TEST(ParseSecurityOptTest, NoNewPrivileges) {
  v1::SecurityOptions sec;
  EXPECT_FALSE(sec.has_no_new_privileges());
  ASSERT_TRUE(ParseSecurityOpt("no-new-privileges=false", FakeFiles({}), &sec).ok());
  ASSERT_TRUE(sec.has_no_new_privileges());
  EXPECT_FALSE(sec.no_new_privileges());
  ASSERT_TRUE(ParseSecurityOpt("no-new-privileges", FakeFiles({}), &sec).ok());
  EXPECT_TRUE(sec.no_new_privileges());
  ASSERT_TRUE(ParseSecurityOpt("no-new-privileges:true", FakeFiles({}), &sec).ok());
  EXPECT_TRUE(sec.no_new_privileges());
}

TEST(ParseSecurityOptTest, BadValuesNameThemselves) {
  struct Case {
    const char* opt;
    const char* message;
  } cases[] = {
      {"seccomp=/missing.json", "--security-opt seccomp: open /missing.json: no such file"},
      {"seccomp=", "invalid --security-opt \"seccomp=\""},
      {"no-new-privileges=maybe", "invalid --security-opt \"no-new-privileges=maybe\""},
      {"apparmor=unconfined", "apparmor is not supported"},
      {"bogus", "invalid --security-opt \"bogus\""},
  };
  for (const Case& c : cases) {
    v1::SecurityOptions sec;
    absl::Status s = ParseSecurityOpt(c.opt, FakeFiles({}), &sec);
    ASSERT_FALSE(s.ok()) << c.opt;
    EXPECT_NE(std::string(s.message()).find(c.message), std::string::npos) << s;
  }
}

TEST(BuildContainerSpecSecurityTest, FlagsReachTheSpec) {
  ContainerOptions options;
  options.image = "busybox";
  options.security_opts = {"seccomp=/p.json", "no-new-privileges=false"};
  options.cap_add = {"NET_ADMIN"};
  options.cap_drop = {"ALL"};
  options.privileged = true;
  auto spec = BuildContainerSpec(options, NoEnv(), FakeFiles({{"/p.json", "{\"x\":1}"}}));
  ASSERT_TRUE(spec.ok()) << spec.status();
  const v1::SecurityOptions& sec = spec->security();
  EXPECT_EQ(sec.seccomp_profile_json(), "{\"x\":1}");
  EXPECT_FALSE(sec.no_new_privileges());
  ASSERT_EQ(sec.cap_add_size(), 1);
  EXPECT_EQ(sec.cap_add(0), "NET_ADMIN");
  ASSERT_EQ(sec.cap_drop_size(), 1);
  EXPECT_EQ(sec.cap_drop(0), "ALL");
  EXPECT_TRUE(sec.privileged());

  options.security_opts = {"seccomp=/nope"};
  EXPECT_FALSE(BuildContainerSpec(options, NoEnv(), FakeFiles({})).ok());
}

}  // namespace
}  // namespace kapsel::client
