#include "runtime/mount_options.h"

#include <sys/mount.h>

#include "gtest/gtest.h"

namespace kapsel::runtime {
namespace {

TEST(ParseMountOptionsTest, EmptyListIsNoFlags) {
  auto o = ParseMountOptions({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->flags, 0u);
  EXPECT_EQ(o->propagation, 0u);
  EXPECT_FALSE(o->bind);
  EXPECT_FALSE(o->recursive);
  EXPECT_EQ(o->data, "");
}

TEST(ParseMountOptionsTest, SetsFlags) {
  auto o = ParseMountOptions({"ro", "nosuid", "nodev", "noexec", "noatime"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->flags,
            static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME));
  EXPECT_EQ(o->data, "");
}

TEST(ParseMountOptionsTest, LaterOptionClearsEarlierFlag) {
  auto o = ParseMountOptions({"ro", "nosuid", "rw", "suid", "nodev"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NODEV));
  auto again = ParseMountOptions({"rw", "ro"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->flags, static_cast<unsigned long>(MS_RDONLY));
}

TEST(ParseMountOptionsTest, RecursiveReadOnly) {
  auto o = ParseMountOptions({"rbind", "rro"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->recursive_read_only);
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_RDONLY));
  auto cleared = ParseMountOptions({"rbind", "rro", "rw"});
  ASSERT_TRUE(cleared.ok());
  EXPECT_FALSE(cleared->recursive_read_only);
  EXPECT_EQ(cleared->flags, 0u);
}

TEST(ParseMountOptionsTest, Propagation) {
  struct Case {
    const char* option;
    unsigned long want;
  } cases[] = {{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
               {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
               {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
               {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.option);
    auto o = ParseMountOptions({"nosuid", c.option});
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->propagation, c.want);
    EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID));
    EXPECT_EQ(o->data, "");
  }
  auto last_wins = ParseMountOptions({"rshared", "rslave"});
  ASSERT_TRUE(last_wins.ok());
  EXPECT_EQ(last_wins->propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
}

TEST(ParseMountOptionsTest, BindAndRbind) {
  auto bind = ParseMountOptions({"bind", "ro"});
  ASSERT_TRUE(bind.ok()) << bind.status();
  EXPECT_TRUE(bind->bind);
  EXPECT_FALSE(bind->recursive);
  EXPECT_EQ(bind->flags, static_cast<unsigned long>(MS_RDONLY));
  auto rbind = ParseMountOptions({"rbind"});
  ASSERT_TRUE(rbind.ok()) << rbind.status();
  EXPECT_TRUE(rbind->bind);
  EXPECT_TRUE(rbind->recursive);
  EXPECT_EQ(rbind->data, "");
}

TEST(ParseMountOptionsTest, JoinsFilesystemDataInOrder) {
  auto o = ParseMountOptions({"nosuid", "mode=755", "strictatime", "size=65536k", "uid=0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->data, "mode=755,size=65536k,uid=0");
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
}

TEST(ParseMountOptionsTest, RefusesUnsupportedAndMalformedOptions) {
  for (const char* bad : {"remount", "tmpcopyup", "idmap", "ridmap", "", "mode=755,uid=0"}) {
    SCOPED_TRACE(bad);
    auto o = ParseMountOptions({"nosuid", bad});
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace kapsel::runtime
