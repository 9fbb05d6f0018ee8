#include "client/registry_auth.h"

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace kapsel::client {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

FileReader Files(std::map<std::string, std::string> files) {
  return [files](const std::string& path) -> absl::StatusOr<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return absl::NotFoundError("open " + path + ": No such file");
    return it->second;
  };
}

std::string Auth(const std::string& user_pass) { return absl::Base64Escape(user_pass); }

TEST(RegistryDomainTest, LikeDocker) {
  EXPECT_EQ(RegistryDomainOf("busybox"), "docker.io");
  EXPECT_EQ(RegistryDomainOf("user/app:1"), "docker.io");
  EXPECT_EQ(RegistryDomainOf("index.docker.io/library/busybox"), "docker.io");
  EXPECT_EQ(RegistryDomainOf("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
  EXPECT_EQ(RegistryDomainOf("localhost/app"), "localhost");
  EXPECT_EQ(RegistryDomainOf("ghcr.io/org/app@sha256:00"), "ghcr.io");
  EXPECT_EQ(RegistryDomainOf("app@sha256:a/b"), "docker.io");
}

TEST(RegistryLoginTest, FindsTheEntryForTheRegistry) {
  std::string config = R"({"auths": {
      "https://index.docker.io/v1/": {"auth": ")" +
                       Auth("hubuser:hubpass") + R"("},
      "127.0.0.1:5000": {"auth": ")" +
                       Auth("alice:s3cr:et") + R"("},
      "http://reg.lan:8080/v2/": {"username": "bob", "password": "pw"},
      "tokenonly.io": {"identitytoken": "xyz"}
    }, "credsStore": "desktop"})";
  auto login = RegistryLoginFromConfig(config, "docker.io");
  ASSERT_TRUE(login.ok() && login->has_value()) << login.status();
  EXPECT_EQ((*login)->username, "hubuser");
  EXPECT_EQ((*login)->password, "hubpass");

  login = RegistryLoginFromConfig(config, "127.0.0.1:5000");
  ASSERT_TRUE(login.ok() && login->has_value());
  EXPECT_EQ((*login)->username, "alice");
  EXPECT_EQ((*login)->password, "s3cr:et");  // only the first ':' separates

  login = RegistryLoginFromConfig(config, "reg.lan:8080");
  ASSERT_TRUE(login.ok() && login->has_value());
  EXPECT_EQ((*login)->username, "bob");

  for (const char* none : {"tokenonly.io", "127.0.0.1:5001", "other.io"}) {
    login = RegistryLoginFromConfig(config, none);
    ASSERT_TRUE(login.ok()) << none;
    EXPECT_FALSE(login->has_value()) << none;
  }
}

TEST(RegistryLoginTest, Malformed) {
  EXPECT_FALSE(RegistryLoginFromConfig("not json", "docker.io").ok());
  EXPECT_FALSE(
      RegistryLoginFromConfig(R"({"auths":{"docker.io":{"auth":"%%%"}}})", "docker.io").ok());
  EXPECT_FALSE(RegistryLoginFromConfig(
                   R"({"auths":{"docker.io":{"auth":")" + Auth("nocolon") + R"("}}})", "docker.io")
                   .ok());
  auto login = RegistryLoginFromConfig("{}", "docker.io");
  ASSERT_TRUE(login.ok());
  EXPECT_FALSE(login->has_value());
}

TEST(RegistryLoginTest, ConfigLocation) {
  EXPECT_EQ(DockerConfigPath(Env({{"HOME", "/home/u"}})), "/home/u/.docker/config.json");
  EXPECT_EQ(DockerConfigPath(Env({{"HOME", "/home/u"}, {"DOCKER_CONFIG", "/etc/dc"}})),
            "/etc/dc/config.json");
  EXPECT_EQ(DockerConfigPath(Env({})), "");

  std::string config = R"({"auths":{"localhost:5000":{"auth":")" + Auth("u:p") + R"("}}})";
  auto login = FindRegistryLogin(Env({{"DOCKER_CONFIG", "/cfg"}}),
                                 Files({{"/cfg/config.json", config}}), "localhost:5000");
  ASSERT_TRUE(login.ok() && login->has_value());
  EXPECT_EQ((*login)->username, "u");
  // No file: anonymous.
  login = FindRegistryLogin(Env({{"HOME", "/nowhere"}}), Files({}), "localhost:5000");
  ASSERT_TRUE(login.ok());
  EXPECT_FALSE(login->has_value());
  // A broken file is an error naming it.
  login = FindRegistryLogin(Env({{"HOME", "/h"}}), Files({{"/h/.docker/config.json", "{"}}),
                            "localhost:5000");
  ASSERT_FALSE(login.ok());
  EXPECT_NE(login.status().message().find("/h/.docker/config.json"), std::string::npos);
}

}  // namespace
}  // namespace kapsel::client
