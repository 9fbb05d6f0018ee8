#include "store/overlay.h"

#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::Exists;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

TEST(OverlayTest, PathsAndIdempotentUnmount) {
  TempDir dir;
  OverlayPaths paths = OverlayPathsFor(dir.Sub("c"));
  EXPECT_EQ(paths.rootfs, dir.Sub("c/rootfs"));
  EXPECT_EQ(paths.upper, dir.Sub("c/upper"));
  EXPECT_EQ(paths.work, dir.Sub("c/work"));
  EXPECT_TRUE(UnmountOverlay(dir.Sub("c")).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(MountOverlay(dir.Sub("c"), {})));
}

// Needs CAP_SYS_ADMIN: mounts a real overlay over two lower layers.
TEST(OverlayTest, MountsLayersTopFirstAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting overlayfs needs root";
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("bottom").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Sub("top").c_str(), 0755), 0);
  WriteFile(dir.Sub("bottom/f"), "bottom");
  WriteFile(dir.Sub("bottom/only"), "b");
  WriteFile(dir.Sub("top/f"), "top");
  std::string c = dir.Sub("c");
  absl::Status status = MountOverlay(c, {dir.Sub("top"), dir.Sub("bottom")});
  if (absl::IsPermissionDenied(status)) GTEST_SKIP() << status;
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(MountOverlay(c, {dir.Sub("top"), dir.Sub("bottom")}).ok());  // already mounted
  EXPECT_EQ(ReadFile(c + "/rootfs/f"), "top");
  EXPECT_EQ(ReadFile(c + "/rootfs/only"), "b");
  WriteFile(c + "/rootfs/new", "n");
  EXPECT_EQ(ReadFile(c + "/upper/new"), "n");
  EXPECT_FALSE(Exists(dir.Sub("top/new")));
  ASSERT_TRUE(UnmountOverlay(c).ok());
  EXPECT_FALSE(Exists(c + "/rootfs/f"));
  EXPECT_TRUE(UnmountOverlay(c).ok());
}

}  // namespace
}  // namespace kapsel::store
