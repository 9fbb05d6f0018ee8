#include "daemon/userns_remap.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

using ::testing::HasSubstr;

std::string Maps(const std::vector<runtime::IdMapping>& maps) { return runtime::MappingText(maps); }

TEST(SubordinateMappingsTest, RangesOfTheNameInOrderFromContainerIdZero) {
  const char* text =
      "# comment\n"
      "alice:100000:65536\n"
      "bob:200000:65536\n"
      "alice:300000:1000\n"
      "1001:400000:10\n";
  auto alice = SubordinateMappings(text, "alice", "", "/etc/subuid");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(Maps(*alice), "0 100000 65536\n65536 300000 1000\n");
  // A line may name the account by its number.
  auto by_id = SubordinateMappings(text, "carol", "1001", "/etc/subuid");
  ASSERT_TRUE(by_id.ok()) << by_id.status();
  EXPECT_EQ(Maps(*by_id), "0 400000 10\n");
}

TEST(SubordinateMappingsTest, MissingNameAndBadLinesAreNamed) {
  auto none = SubordinateMappings("bob:200000:65536\n", "alice", "", "/etc/subuid");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()),
              HasSubstr("/etc/subuid has no range for alice"));
  auto bad = SubordinateMappings("alice:x:65536\n", "alice", "", "/etc/subgid");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("/etc/subgid:1:"));
  // The host's root is never part of a range.
  auto root = SubordinateMappings("alice:0:65536\n", "alice", "", "/etc/subuid");
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(std::string(root.status().message()), HasSubstr("host's root"));
  auto wraps = SubordinateMappings("alice:4294967000:65536\n", "alice", "", "/etc/subuid");
  EXPECT_FALSE(wraps.ok());
}

// The subuid(5) and subgid(5) files of a test, named after it in gtest's temp directory.
class ResolveUsernsRemapTest : public ::testing::Test {
 protected:
  ~ResolveUsernsRemapTest() override {
    unlink(Path("subuid").c_str());
    unlink(Path("subgid").c_str());
  }
  std::string Path(const std::string& name) const {
    return ::testing::TempDir() + "kapsel-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "." + name;
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
  }
  absl::StatusOr<UsernsRemap> Resolve(const std::string& value) {
    return ResolveUsernsRemap(value, Path("subuid"), Path("subgid"));
  }
};

TEST_F(ResolveUsernsRemapTest, UserAndGroupFromTheirFiles) {
  Write("subuid", "kapsel:100000:65536\nalice:500000:65536\n");
  Write("subgid", "kapsel:110000:65536\nstaff:600000:65536\n");
  auto remap = Resolve("default");
  ASSERT_TRUE(remap.ok()) << remap.status();
  EXPECT_EQ(remap->user, "kapsel");
  EXPECT_EQ(remap->root_uid(), 100000u);
  EXPECT_EQ(remap->root_gid(), 110000u);
  auto alice = Resolve("alice:staff");
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->group, "staff");
  EXPECT_EQ(Maps(alice->uid_mappings), "0 500000 65536\n");
  EXPECT_EQ(Maps(alice->gid_mappings), "0 600000 65536\n");
}

TEST_F(ResolveUsernsRemapTest, TooFewIdsMissingFilesAndBadValuesAreRefused) {
  Write("subuid", "small:100000:1000\n");
  Write("subgid", "small:100000:65536\n");
  auto small = Resolve("small");
  ASSERT_FALSE(small.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(small.status()));
  EXPECT_THAT(std::string(small.status().message()), HasSubstr("1000 ids, at least 65536"));
  auto missing = ResolveUsernsRemap("alice", Path("none"), Path("subgid"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(".none has no range for alice"));
  auto bad = Resolve("a b");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_FALSE(Resolve("").ok());
  EXPECT_FALSE(Resolve("alice:").ok());
}

}  // namespace
}  // namespace kapsel::daemon
