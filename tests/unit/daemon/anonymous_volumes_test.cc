#include "daemon/anonymous_volumes.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

namespace fs = std::filesystem;

TEST(AnonymousVolumePathsTest, ImageVolumesNotMountedByTheRequest) {
  nlohmann::json config = {{"Volumes",
                            {{"/data", nlohmann::json::object()},
                             {"/logs/", nlohmann::json::object()},
                             {"/cache", nlohmann::json::object()},
                             {"/run", nlohmann::json::object()}}}};
  v1::ContainerSpec request;
  v1::MountSpec* m = request.add_mounts();
  m->set_host_path("/srv");
  m->set_container_path("/cache");
  (*request.mutable_tmpfs())["/run"] = "";
  auto paths = AnonymousVolumePaths(config, request);
  ASSERT_TRUE(paths.ok()) << paths.status();
  EXPECT_EQ(*paths, (std::vector<std::string>{"/data", "/logs"}));

  EXPECT_TRUE(AnonymousVolumePaths(nlohmann::json::object(), request)->empty());
  for (const char* bad : {"data", "/", "/a/../.."}) {
    auto p = AnonymousVolumePaths({{"Volumes", {{bad, nlohmann::json::object()}}}}, request);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("image Volumes"), std::string::npos) << p.status();
  }
}

class AnonymousVolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kapsel-anon-volumes.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    rootfs_ = base_ + "/rootfs";
    dir_ = base_ + "/container";
    fs::create_directories(rootfs_ + "/data/sub");
    fs::create_directories(dir_);
    std::ofstream(rootfs_ + "/data/seed") << "seed\n";
    std::ofstream(rootfs_ + "/data/sub/deep") << "deep\n";
    chmod((rootfs_ + "/data/seed").c_str(), 0640);
    fs::create_symlink("/etc/passwd", rootfs_ + "/data/link");
    mkfifo((rootfs_ + "/data/fifo").c_str(), 0600);
    std::ofstream(rootfs_ + "/file") << "not a dir\n";
    // A symlink that would lead out of the rootfs if it were followed on the host.
    fs::create_symlink("/etc", rootfs_ + "/escape");
  }
  void TearDown() override { fs::remove_all(base_); }

  std::string base_, rootfs_, dir_;
};

TEST_F(AnonymousVolumesTest, FilledWithTheImagesContentAndMounted) {
  v1::ContainerSpec request;
  ASSERT_TRUE(AddAnonymousVolumes({"/data", "/empty"}, rootfs_, dir_, &request).ok());
  ASSERT_EQ(request.mounts_size(), 2);
  EXPECT_EQ(request.mounts(0).container_path(), "/data");
  EXPECT_EQ(request.mounts(0).host_path(), dir_ + "/volumes/0");
  EXPECT_EQ(request.mounts(1).container_path(), "/empty");
  const std::string v0 = dir_ + "/volumes/0";
  std::ifstream seed(v0 + "/seed");
  std::string line;
  std::getline(seed, line);
  EXPECT_EQ(line, "seed");
  EXPECT_EQ(fs::status(v0 + "/seed").permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_TRUE(fs::exists(v0 + "/sub/deep"));
  EXPECT_EQ(fs::read_symlink(v0 + "/link"), "/etc/passwd");
  EXPECT_TRUE(fs::is_fifo(fs::symlink_status(v0 + "/fifo")));
  EXPECT_TRUE(fs::is_empty(dir_ + "/volumes/1"));
}

TEST_F(AnonymousVolumesTest, AFileOrASymlinkOutIsNotCopiedFrom) {
  v1::ContainerSpec request;
  absl::Status s = AddAnonymousVolumes({"/file"}, rootfs_, dir_, &request);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("/file is not a directory in the image"), std::string::npos) << s;
  // /escape -> /etc resolves inside the rootfs (to rootfs/etc, missing): an empty volume, never
  // the host's /etc.
  fs::remove_all(dir_ + "/volumes");
  v1::ContainerSpec other;
  ASSERT_TRUE(AddAnonymousVolumes({"/escape"}, rootfs_, dir_, &other).ok());
  EXPECT_TRUE(fs::is_empty(dir_ + "/volumes/0"));
}

}  // namespace
}  // namespace kapsel::daemon
