// The pure parts of pulling: reference parsing, WWW-Authenticate parsing, platform choice and
// registry error bodies. The HTTP side runs against a real registry in tests/e2e/pull_test.sh.

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "store/image_reference.h"
#include "store/platform.h"
#include "store/registry_client.h"

namespace kapsel::store {
namespace {

using ::nlohmann::json;

const std::string kDigest =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

DistributionReference Parse(const std::string& text) {
  absl::StatusOr<DistributionReference> ref = ParseDistributionReference(text);
  EXPECT_TRUE(ref.ok()) << text << ": " << ref.status();
  return ref.ok() ? *ref : DistributionReference{};
}

TEST(DistributionReferenceTest, DockerHubShortNames) {
  DistributionReference ref = Parse("busybox");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.repository, "library/busybox");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_EQ(ref.digest, "");
  EXPECT_EQ(ref.RegistryHost(), "registry-1.docker.io");
  EXPECT_EQ(ref.FamiliarName(), "busybox");
  EXPECT_EQ(ref.ToString(), "docker.io/library/busybox:latest");
  EXPECT_EQ(ref.ManifestReference(), "latest");

  ref = Parse("user/app:1.2");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.repository, "user/app");
  EXPECT_EQ(ref.tag, "1.2");
  EXPECT_EQ(ref.FamiliarName(), "user/app");

  ref = Parse("docker.io/library/alpine:3");
  EXPECT_EQ(ref.repository, "library/alpine");
  EXPECT_EQ(ref.FamiliarName(), "alpine");
  ref = Parse("index.docker.io/nginx");
  EXPECT_EQ(ref.domain, "docker.io");
  EXPECT_EQ(ref.repository, "library/nginx");
}

TEST(DistributionReferenceTest, RegistriesWithPorts) {
  DistributionReference ref = Parse("127.0.0.1:5000/team/app:2");
  EXPECT_EQ(ref.domain, "127.0.0.1:5000");
  EXPECT_EQ(ref.repository, "team/app");
  EXPECT_EQ(ref.tag, "2");
  EXPECT_EQ(ref.RegistryHost(), "127.0.0.1:5000");
  EXPECT_EQ(ref.FamiliarName(), "127.0.0.1:5000/team/app");

  ref = Parse("localhost/app");
  EXPECT_EQ(ref.domain, "localhost");
  EXPECT_EQ(ref.repository, "app");
  EXPECT_EQ(ref.tag, "latest");

  ref = Parse("localhost:5000/app");
  EXPECT_EQ(ref.domain, "localhost:5000");
  EXPECT_EQ(ref.tag, "latest");

  ref = Parse("registry.example.com/a/b/c:v1");
  EXPECT_EQ(ref.domain, "registry.example.com");
  EXPECT_EQ(ref.repository, "a/b/c");

  ref = Parse("[::1]:5000/app:x");
  EXPECT_EQ(ref.domain, "[::1]:5000");
  EXPECT_EQ(ref.repository, "app");
  EXPECT_EQ(ref.tag, "x");

  ref = Parse("[::1]/team/app");
  EXPECT_EQ(ref.domain, "[::1]");
  EXPECT_EQ(ref.repository, "team/app");
  EXPECT_EQ(ref.tag, "latest");
  EXPECT_EQ(ref.RegistryHost(), "[::1]");

  ref = Parse("[fd00:0:0::a]:443/app@" + kDigest);
  EXPECT_EQ(ref.domain, "[fd00:0:0::a]:443");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.FamiliarName(), "[fd00:0:0::a]:443/app");
  EXPECT_EQ(ref.ToString(), "[fd00:0:0::a]:443/app@" + kDigest);

  // Upper case marks a domain (docker's rule), even without a dot.
  ref = Parse("Registry/app");
  EXPECT_EQ(ref.domain, "Registry");
}

TEST(DistributionReferenceTest, Digests) {
  DistributionReference ref = Parse("busybox@" + kDigest);
  EXPECT_EQ(ref.tag, "");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.ManifestReference(), kDigest);
  EXPECT_EQ(ref.ToString(), "docker.io/library/busybox@" + kDigest);

  ref = Parse("host:5000/app:1@" + kDigest);
  EXPECT_EQ(ref.tag, "1");
  EXPECT_EQ(ref.digest, kDigest);
  EXPECT_EQ(ref.ManifestReference(), kDigest);
}

TEST(DistributionReferenceTest, RefusesMalformed) {
  for (const std::string& bad :
       {std::string(""), std::string("UPPER"), std::string("app:"), std::string(":tag"),
        std::string("a//b"), std::string("/app"), std::string("app/"), std::string("-app"),
        std::string("app:-tag"), std::string("app:.tag"), std::string("app@sha256:abc"),
        std::string("app@md5:0123"), std::string("host:port/app"), std::string("a..b/c/d"),
        std::string("app@" + kDigest.substr(0, 70) + "X"), std::string("ho_st.com/app"),
        std::string("app:" + std::string(129, 'a')), std::string("a" + std::string(300, 'b')),
        std::string("team/APP")}) {
    absl::StatusOr<DistributionReference> ref = ParseDistributionReference(bad);
    EXPECT_FALSE(ref.ok()) << "\"" << bad << "\" parsed as " << ref->ToString();
    if (!ref.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(ref.status())) << ref.status();
    }
  }
  // IPv6 literals: bracketed, valid, no zone, a numeric port.
  for (const char* bad : {"[::1]:5000", "[::1:5000/app", "[::1]:/app", "[::1]:port/app",
                          "[::1]x/app", "[127.0.0.1]:5000/app", "[::g]:5000/app",
                          "[fe80::1%eth0]:5000/app", "::1/app", "[::1]:123456/app"}) {
    absl::StatusOr<DistributionReference> ref = ParseDistributionReference(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(ref.status())) << bad;
  }
  // Separators inside a path component: '.', '_', '__' and runs of '-'.
  EXPECT_TRUE(ParseDistributionReference("team/a.b_c__d---e").ok());
  EXPECT_FALSE(ParseDistributionReference("a___b").ok());
  EXPECT_FALSE(ParseDistributionReference("a._b").ok());
}

TEST(LoopbackTest, Hosts) {
  for (const char* host :
       {"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "127.1.2.3:80", "[::1]:5000",
        "::1", "LOCALHOST:1", "[::1]", "[0:0:0:0:0:0:0:1]:5000", "[::ffff:127.0.0.1]:5000"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0:5000", "10.0.0.1:5000", "registry.example.com",
                           "localhost.example.com:5000", "[::2]:5000", "128.0.0.1", "", "[::]:5000",
                           "[::ffff:10.0.0.1]:5000", "[::1", "[fe80::1]:5000"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(InsecureRegistryTest, LoopbackAndListed) {
  RegistryOptions options;
  options.insecure_registries = {"10.0.0.1:5000", "reg.lan"};
  EXPECT_TRUE(IsInsecureRegistry(options, "127.0.0.1:5000"));
  EXPECT_TRUE(IsInsecureRegistry(options, "10.0.0.1:5000"));
  EXPECT_FALSE(IsInsecureRegistry(options, "10.0.0.1:5001"));
  EXPECT_TRUE(IsInsecureRegistry(options, "reg.lan:443"));
  EXPECT_TRUE(IsInsecureRegistry(options, "reg.lan"));
  EXPECT_FALSE(IsInsecureRegistry(options, "reg.lan.evil.com"));
  EXPECT_FALSE(IsInsecureRegistry(options, "registry-1.docker.io"));
  // IPv6: loopback always, a listed address with or without its port.
  EXPECT_TRUE(IsInsecureRegistry(options, "[::1]:5000"));
  EXPECT_FALSE(IsInsecureRegistry(options, "[fd00::1]:5000"));
  options.insecure_registries = {"[fd00::1]", "[fd00::2]:5000"};
  EXPECT_TRUE(IsInsecureRegistry(options, "[fd00::1]:5000"));
  EXPECT_TRUE(IsInsecureRegistry(options, "[fd00::1]"));
  EXPECT_TRUE(IsInsecureRegistry(options, "[fd00::2]:5000"));
  EXPECT_FALSE(IsInsecureRegistry(options, "[fd00::2]:5001"));
  EXPECT_FALSE(IsInsecureRegistry(options, "[fd00::10]:5000"));
}

TEST(WwwAuthenticateTest, DockerHubBearer) {
  std::vector<AuthChallenge> c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(c[0].params["service"], "registry.docker.io");
  EXPECT_EQ(c[0].params["scope"], "repository:library/busybox:pull");
}

TEST(WwwAuthenticateTest, BasicAndSeveralChallenges) {
  std::vector<AuthChallenge> c = ParseWwwAuthenticate(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params["realm"], "Registry Realm");

  c = ParseWwwAuthenticate(
      R"(Basic realm="a, b", BEARER Realm=http://127.0.0.1:1/token , Service = "svc" ,)"
      R"( error="insufficient_scope")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params["realm"], "a, b");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params["realm"], "http://127.0.0.1:1/token");
  EXPECT_EQ(c[1].params["service"], "svc");
  EXPECT_EQ(c[1].params["error"], "insufficient_scope");
}

TEST(WwwAuthenticateTest, EscapesAndJunk) {
  std::vector<AuthChallenge> c = ParseWwwAuthenticate(R"(Bearer realm="say \"hi\"\\")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params["realm"], R"(say "hi"\)");
  EXPECT_TRUE(ParseWwwAuthenticate("").empty());
  EXPECT_TRUE(ParseWwwAuthenticate("   ,  ").empty());
  // An unterminated quote ends the parse; what came before stays.
  c = ParseWwwAuthenticate(R"(Bearer service="x", realm="https://unterminated)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params["service"], "x");
  EXPECT_EQ(c[0].params.count("realm"), 0u);
  // A scheme without parameters.
  c = ParseWwwAuthenticate("Negotiate, Bearer realm=x");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "negotiate");
  EXPECT_EQ(c[1].params["realm"], "x");
}

TEST(RegistryErrorTest, Messages) {
  EXPECT_EQ(RegistryErrorMessage(
                R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"),
            "manifest unknown (MANIFEST_UNKNOWN)");
  EXPECT_EQ(RegistryErrorMessage(R"({"errors":[{"code":"UNAUTHORIZED"}]})"), "UNAUTHORIZED");
  EXPECT_EQ(RegistryErrorMessage(R"({"details":"incorrect username or password"})"),
            "incorrect username or password");
  EXPECT_EQ(RegistryErrorMessage("  unauthorized\n"), "unauthorized");
  EXPECT_EQ(RegistryErrorMessage(std::string("\x01\x02", 2)), "");
}

TEST(PlatformTest, ParseAndNormalize) {
  absl::StatusOr<Platform> p = ParsePlatform("linux/arm64");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "linux/arm64");
  p = ParsePlatform("linux/arm64/v8");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "linux/arm64");
  p = ParsePlatform("linux/x86_64");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "linux/amd64");
  p = ParsePlatform("linux/arm");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "linux/arm/v7");
  for (const char* bad : {"", "linux", "linux/", "/amd64", "linux/amd64/", "a/b/c/d", "li nux/x"}) {
    EXPECT_FALSE(ParsePlatform(bad).ok()) << bad;
  }
#if defined(__x86_64__)
  EXPECT_EQ(HostPlatform().ToString(), "linux/amd64");
#endif
}

json Index() {
  return json::parse(R"({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
      {"digest": "sha256:a1", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
      {"digest": "sha256:a2", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
      {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
      {"digest": "sha256:c", "platform": {"os": "linux", "architecture": "amd64"}},
      {"digest": "sha256:w", "platform": {"os": "windows", "architecture": "amd64"}},
      {"digest": "sha256:u", "platform": {"os": "unknown", "architecture": "unknown"}}
    ]})");
}

std::string Chosen(const json& index, const std::string& platform) {
  absl::StatusOr<Platform> p = ParsePlatform(platform);
  EXPECT_TRUE(p.ok()) << platform;
  absl::StatusOr<json> d = ChoosePlatformManifest(index, *p);
  if (!d.ok()) return d.status().ToString();
  return (*d)["digest"].get<std::string>();
}

TEST(PlatformTest, ChoosesFromAnIndex) {
  json index = Index();
  EXPECT_EQ(Chosen(index, "linux/amd64"), "sha256:c");
  EXPECT_EQ(Chosen(index, "linux/arm64"), "sha256:b");
  EXPECT_EQ(Chosen(index, "linux/arm64/v8"), "sha256:b");
  EXPECT_EQ(Chosen(index, "linux/arm/v6"), "sha256:a1");
  EXPECT_EQ(Chosen(index, "linux/arm/v7"), "sha256:a2");
  // No variant asked for: arm's default (v7) is preferred over the first arm entry.
  EXPECT_EQ(Chosen(index, "linux/arm"), "sha256:a2");
  EXPECT_EQ(Chosen(index, "windows/amd64"), "sha256:w");
  std::string missing = Chosen(index, "linux/s390x");
  EXPECT_NE(missing.find("NOT_FOUND"), std::string::npos) << missing;
  EXPECT_NE(missing.find("linux/s390x"), std::string::npos) << missing;
  EXPECT_NE(missing.find("linux/arm64"), std::string::npos) << missing;
}

TEST(PlatformTest, AnIndexOfOneWithoutPlatform) {
  json index = json::parse(R"({"manifests": [{"digest": "sha256:only"}]})");
  EXPECT_EQ(Chosen(index, "linux/amd64"), "sha256:only");
  index = json::parse(R"({"manifests": [{"digest": "sha256:x"}, {"digest": "sha256:y"}]})");
  EXPECT_NE(Chosen(index, "linux/amd64").find("NOT_FOUND"), std::string::npos);
  EXPECT_FALSE(ChoosePlatformManifest(json::parse("{}"), HostPlatform()).ok());
}

TEST(PlatformTest, VariantsMatch) {
  EXPECT_TRUE(PlatformMatches({"linux", "arm64", ""}, {"linux", "arm64", "v8"}));
  EXPECT_TRUE(PlatformMatches({"linux", "arm64", "v8"}, {"linux", "arm64", ""}));
  EXPECT_TRUE(PlatformMatches({"linux", "amd64", ""}, {"linux", "x86_64", ""}));
  EXPECT_FALSE(PlatformMatches({"linux", "arm", "v6"}, {"linux", "arm", "v7"}));
  EXPECT_TRUE(PlatformMatches({"linux", "arm", ""}, {"linux", "arm", "v6"}));
  EXPECT_FALSE(PlatformMatches({"linux", "amd64", ""}, {"windows", "amd64", ""}));
}

}  // namespace
}  // namespace kapsel::store
