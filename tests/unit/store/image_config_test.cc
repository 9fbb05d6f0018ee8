#include "store/image_config.h"

#include "gtest/gtest.h"

namespace kapsel::store {
namespace {

TEST(ImageReferenceTest, ParsesNameAndTag) {
  absl::StatusOr<ImageReference> ref = ParseImageReference("busybox");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->ToString(), "busybox:latest");
  ref = ParseImageReference("my.org/team/app-1:v1.2_rc-3");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "my.org/team/app-1");
  EXPECT_EQ(ref->tag, "v1.2_rc-3");
  // A registry given as a bracketed IPv6 literal, as a pull from [::1]:5000 tags its image.
  ref = ParseImageReference("[::1]:5000/team/app:1");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "[::1]:5000/team/app");
  EXPECT_EQ(ref->tag, "1");
  ref = ParseImageReference("[fd00::1]/app");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->ToString(), "[fd00::1]/app:latest");
}

TEST(ImageReferenceTest, RejectsBadReferences) {
  for (const char* bad : {"", "Upper", "a b", "name:", ":tag", "name:bad/tag", "name:t@g", "/abs",
                          "trailing/", "a//b", "a:b:c", "-dash"}) {
    absl::StatusOr<ImageReference> ref = ParseImageReference(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(ref.status())) << bad;
  }
  for (const char* bad : {"[::1]", "[::1]:5000", "[::1:5000/app", "[::z]/app", "[::1]:x/app"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseImageReference(bad).status())) << bad;
  }
  for (const char* bad : {"[::1]:5000/App", "[127.0.0.1]/app", "[::1]/", "x[::1]/app"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseImageReference(bad).status())) << bad;
  }
  EXPECT_FALSE(ParseImageReference("n:" + std::string(129, 't')).ok());
  EXPECT_TRUE(ParseImageReference("n:" + std::string(128, 't')).ok());
}

TEST(ApplyChangesTest, AllInstructions) {
  nlohmann::json config = nlohmann::json::object();
  absl::Status status =
      ApplyChanges({R"(CMD ["sh","-c","echo hi"])", "entrypoint /bin/init --flag", "ENV A=1",
                    "ENV B 2", "ENV A=3", "WORKDIR /srv", "USER nobody", "LABEL org.example=yes"},
                   config);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(config["Cmd"], nlohmann::json::array({"sh", "-c", "echo hi"}));
  EXPECT_EQ(config["Entrypoint"], nlohmann::json::array({"/bin/sh", "-c", "/bin/init --flag"}));
  EXPECT_EQ(config["Env"], nlohmann::json::array({"B=2", "A=3"}));
  EXPECT_EQ(config["WorkingDir"], "/srv");
  EXPECT_EQ(config["User"], "nobody");
  EXPECT_EQ(config["Labels"]["org.example"], "yes");
}

TEST(ApplyChangesTest, VolumeInBothForms) {
  nlohmann::json config = nlohmann::json::object();
  ASSERT_TRUE(ApplyChanges({R"(VOLUME ["/data", "/logs"])", "volume /cache /tmp/x"}, config).ok());
  EXPECT_EQ(config["Volumes"], nlohmann::json({{"/data", nlohmann::json::object()},
                                               {"/logs", nlohmann::json::object()},
                                               {"/cache", nlohmann::json::object()},
                                               {"/tmp/x", nlohmann::json::object()}}));
  for (const char* bad : {"VOLUME", "VOLUME data", R"(VOLUME ["/a", 1])", "VOLUME [oops"}) {
    absl::Status status = ApplyChanges({bad}, config);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << bad;
    EXPECT_NE(status.message().find("VOLUME in change"), absl::string_view::npos) << status;
  }
}

TEST(ApplyChangesTest, UnknownInstructionIsNamed) {
  nlohmann::json config = nlohmann::json::object();
  absl::Status status = ApplyChanges({"EXPOSE 80"}, config);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_NE(status.message().find("EXPOSE"), absl::string_view::npos) << status;
  EXPECT_FALSE(ApplyChanges({R"(CMD ["sh", 1])"}, config).ok());
  EXPECT_FALSE(ApplyChanges({"CMD"}, config).ok());
  EXPECT_FALSE(ApplyChanges({"ENV"}, config).ok());
}

TEST(MakeImageConfigTest, HasOciShape) {
  nlohmann::json c = MakeImageConfig({{"Cmd", {"sh"}}}, {"sha256:aa"}, 1700000000123456789);
  EXPECT_EQ(c["os"], "linux");
  EXPECT_TRUE(c["architecture"].is_string());
  EXPECT_EQ(c["created"], "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(c["rootfs"]["type"], "layers");
  EXPECT_EQ(c["rootfs"]["diff_ids"], nlohmann::json::array({"sha256:aa"}));
  EXPECT_EQ(c["config"]["Cmd"], nlohmann::json::array({"sh"}));
}

}  // namespace
}  // namespace kapsel::store
