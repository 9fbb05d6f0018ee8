#include "store/overlay.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"
#include "runtime/linux/userns.h"
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

// Needs CAP_SYS_ADMIN and Linux 5.19 (overlayfs over idmapped layers): a remapped container's
// rootfs, the kernel's idmapped mounts for real.
TEST(OverlayTest, IdmappedLayersBelongToTheMappedRootAndStayRootsOnDisk) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting overlayfs needs root";
  constexpr unsigned kRoot = 2000000000;
  auto userns = linux::NewUserNamespace("0 2000000000 65536\n", "0 2000000000 65536\n");
  ASSERT_TRUE(userns.ok()) << userns.status();
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("layer").c_str(), 0755), 0);
  WriteFile(dir.Sub("layer/f"), "lower");
  ASSERT_EQ(chown(dir.Sub("layer/f").c_str(), 0, 0), 0);
  std::string c = dir.Sub("c");
  OverlayIdmap idmap{userns->get(), kRoot, kRoot + 1};
  absl::Status status = MountOverlay(c, {dir.Sub("layer")}, &idmap);
  ASSERT_TRUE(status.ok()) << status;
  struct stat st;
  // Seen from the host, the layer's root-owned file belongs to the mapped root; on disk it is
  // still root's, and the staged idmapped mount is gone.
  ASSERT_EQ(stat((c + "/rootfs/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kRoot);
  EXPECT_EQ(st.st_gid, kRoot);
  ASSERT_EQ(stat(dir.Sub("layer/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_FALSE(Exists(c + "/idmap"));
  // The upper layer's top is the mapped root's, so the container's root may write its rootfs.
  ASSERT_EQ(stat((c + "/upper").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kRoot);
  EXPECT_EQ(st.st_gid, kRoot + 1);
  ASSERT_TRUE(UnmountOverlay(c).ok());
  EXPECT_FALSE(Exists(c + "/rootfs/f"));
}

TEST(OverlayTest, UnmountDetachesLayersACrashLeftStaged) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  TempDir dir;
  ASSERT_EQ(mkdir(dir.Sub("layer").c_str(), 0755), 0);
  WriteFile(dir.Sub("layer/keep"), "k");
  std::string c = dir.Sub("c");
  ASSERT_EQ(mkdir(c.c_str(), 0700), 0);
  ASSERT_EQ(mkdir((c + "/idmap").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((c + "/idmap/0").c_str(), 0700), 0);
  ASSERT_EQ(mount(dir.Sub("layer").c_str(), (c + "/idmap/0").c_str(), nullptr, MS_BIND, nullptr),
            0);
  ASSERT_TRUE(UnmountOverlay(c).ok());
  EXPECT_FALSE(Exists(c + "/idmap"));
  // The layer itself is untouched.
  EXPECT_EQ(ReadFile(dir.Sub("layer/keep")), "k");
}

}  // namespace
}  // namespace kapsel::store
