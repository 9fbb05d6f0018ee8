#include "store/layer_unpack.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::Exists;
using testing::ListNames;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;
using testing::WriteFile;

// A layer fixture: <tmp>/layer.tar to fill, <tmp>/root to unpack into, and <tmp>/outside, a
// directory that must stay untouched whatever the archive says.
class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(root().c_str(), 0755), 0);
    ASSERT_EQ(mkdir(outside().c_str(), 0755), 0);
  }
  std::string tar() const { return dir_.Sub("layer.tar"); }
  std::string root() const { return dir_.Sub("root"); }
  std::string outside() const { return dir_.Sub("outside"); }

  // Expects the unpack to fail, naming `entry`, with nothing written outside root().
  void ExpectRefused(const std::string& entry) {
    absl::Status status = UnpackLayer(tar(), root());
    EXPECT_FALSE(status.ok());
    EXPECT_TRUE(absl::StrContains(status.message(), entry)) << status;
    EXPECT_TRUE(ListNames(outside()).empty());
    EXPECT_EQ(ListNames(dir_.path()), (std::vector<std::string>{"layer.tar", "outside", "root"}));
  }

  TempDir dir_;
};

TEST_F(UnpackTest, ExtractsFilesDirsLinksAndMetadata) {
  {
    TarBuilder t(tar());
    t.Dir("./", 0755)
        .Dir("bin", 0755)
        .File("bin/tool", "#!/bin/sh\n", 04755)
        .Symlink("bin/sh", "tool")
        .Hardlink("bin/tool2", "bin/tool")
        .File("deep/er/file", "x", 0600)  // parents missing from the archive
        .Dir("ro", 0555)
        .File("ro/inside", "y", 0444);
  }
  absl::Status status = UnpackLayer(tar(), root());
  ASSERT_TRUE(status.ok()) << status;

  struct stat st;
  ASSERT_EQ(lstat((root() + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile(root() + "/bin/tool2"), "#!/bin/sh\n");
  ASSERT_EQ(lstat((root() + "/bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  char target[64] = {};
  ASSERT_GT(readlink((root() + "/bin/sh").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "tool");
  EXPECT_EQ(ReadFile(root() + "/deep/er/file"), "x");
  ASSERT_EQ(lstat((root() + "/ro").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(st.st_mtime, 1700000000);
  ASSERT_EQ(lstat((root() + "/bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1700000000);
  EXPECT_TRUE(ListNames(outside()).empty());
}

TEST_F(UnpackTest, LaterEntryReplacesEarlier) {
  {
    TarBuilder t(tar());
    t.File("a", "first").File("a", "second").Dir("d").File("d/x", "1").File("d", "now a file");
  }
  ASSERT_TRUE(UnpackLayer(tar(), root()).ok());
  EXPECT_EQ(ReadFile(root() + "/a"), "second");
  EXPECT_EQ(ReadFile(root() + "/d"), "now a file");
}

// The unpacker reuses the parent directory of the previous entry; an entry whose path was
// replaced in between (a directory by a symlink, by a file) goes where the path leads now.
TEST_F(UnpackTest, ReplacedParentsAreWalkedAgain) {
  {
    TarBuilder t(tar());
    t.Dir("e").Dir("d").File("d/x", "1").Symlink("d", "e").File("d/y", "2");
    t.Dir("f").File("f/z", "3").File("f", "now a file").Dir("g").File("g/a", "4").File("g/b", "5");
  }
  ASSERT_TRUE(UnpackLayer(tar(), root()).ok());
  struct stat st;
  ASSERT_EQ(lstat((root() + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadFile(root() + "/e/y"), "2");
  EXPECT_NE(access((root() + "/e/x").c_str(), F_OK), 0);
  EXPECT_EQ(ReadFile(root() + "/f"), "now a file");
  EXPECT_EQ(ReadFile(root() + "/g/a"), "4");
  EXPECT_EQ(ReadFile(root() + "/g/b"), "5");
}

TEST_F(UnpackTest, TargetMustBeEmpty) {
  {
    TarBuilder t(tar());
    t.File("a", "x");
  }
  WriteFile(root() + "/existing", "");
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
}

TEST_F(UnpackTest, RefusesDotDot) {
  {
    TarBuilder t(tar());
    t.File("ok", "fine").File("../x", "escaped");
  }
  ExpectRefused("../x");
}

TEST_F(UnpackTest, RefusesDotDotInTheMiddle) {
  {
    TarBuilder t(tar());
    t.Dir("a").File("a/../../outside/x", "escaped");
  }
  ExpectRefused("a/../../outside/x");
}

TEST_F(UnpackTest, RefusesAbsolutePath) {
  std::string abs = outside() + "/abs";
  {
    TarBuilder t(tar());
    t.File(abs, "escaped");
  }
  ExpectRefused(abs);
  EXPECT_FALSE(Exists(abs));
}

TEST_F(UnpackTest, NeverWritesThroughAbsoluteSymlinkToOutside) {
  {
    TarBuilder t(tar());
    t.Symlink("etc", outside()).File("etc/passwd", "pwned");
  }
  absl::Status status = UnpackLayer(tar(), root());
  // Resolved inside the root the link points at itself (a loop), so the write is refused; it
  // must never land in outside().
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(ListNames(outside()).empty());
}

TEST_F(UnpackTest, NeverWritesThroughRelativeSymlinkToOutside) {
  {
    TarBuilder t(tar());
    t.Symlink("up", "../outside").File("up/passwd", "pwned");
  }
  absl::Status status = UnpackLayer(tar(), root());
  // ".." at the root stays at the root: "up" resolves to <root>/outside, created there.
  EXPECT_TRUE(ListNames(outside()).empty());
  if (status.ok()) {
    EXPECT_EQ(ReadFile(root() + "/outside/passwd"), "pwned");
  }
}

TEST_F(UnpackTest, SymlinkEtcToHostEtcDoesNotTouchHost) {
  struct stat before;
  ASSERT_EQ(stat("/etc/passwd", &before), 0);
  std::string content = ReadFile("/etc/passwd");
  {
    TarBuilder t(tar());
    t.Symlink("etc", "/etc").File("etc/passwd", "root::0:0::/:/bin/sh\n");
  }
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_FALSE(status.ok());
  struct stat after;
  ASSERT_EQ(stat("/etc/passwd", &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  EXPECT_EQ(ReadFile("/etc/passwd"), content);
}

TEST_F(UnpackTest, SymlinkLeafIsReplacedNotFollowed) {
  WriteFile(outside() + "/victim", "safe");
  {
    TarBuilder t(tar());
    t.Symlink("f", outside() + "/victim").File("f", "overwritten");
  }
  ASSERT_TRUE(UnpackLayer(tar(), root()).ok());
  EXPECT_EQ(ReadFile(outside() + "/victim"), "safe");
  EXPECT_EQ(ReadFile(root() + "/f"), "overwritten");
}

TEST_F(UnpackTest, RefusesHardlinkToAbsolutePath) {
  {
    TarBuilder t(tar());
    t.Hardlink("passwd", "/etc/passwd");
  }
  ExpectRefused("/etc/passwd");
  EXPECT_FALSE(Exists(root() + "/passwd"));
}

TEST_F(UnpackTest, RefusesHardlinkOutOfRoot) {
  WriteFile(dir_.Sub("x"), "secret");
  {
    TarBuilder t(tar());
    t.Hardlink("link", "../../x");
  }
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "../../x")) << status;
  struct stat st;
  ASSERT_EQ(stat(dir_.Sub("x").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(UnpackTest, HardlinkThroughSymlinkStaysInside) {
  // "l" -> "/etc" resolves inside the root to <root>/etc, which does not exist.
  {
    TarBuilder t(tar());
    t.Symlink("l", "/etc").Hardlink("pw", "l/passwd");
  }
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(Exists(root() + "/pw"));
}

TEST_F(UnpackTest, RefusesWhiteoutOfDotDot) {
  {
    TarBuilder t(tar());
    t.Dir("a").File("a/.wh...", "");
  }
  ExpectRefused(".wh...");
}

TEST_F(UnpackTest, WhiteoutsBecomeOverlayWhiteouts) {
  {
    TarBuilder t(tar());
    t.Dir("a")
        .File("a/.wh.gone", "")
        .File("a/kept", "k")
        .Dir("o")
        .File("o/.wh..wh..opq", "")
        .File("a/.wh.kept", "")
        .File("a/.wh.later", "")
        .File("a/later", "l");
  }
  absl::Status status = UnpackLayer(tar(), root());
  ASSERT_TRUE(status.ok()) << status;
  // This layer's own entries win over its whiteouts.
  EXPECT_EQ(ReadFile(root() + "/a/kept"), "k");
  EXPECT_EQ(ReadFile(root() + "/a/later"), "l");
  EXPECT_TRUE(ListNames(root() + "/o").empty());
  // Linux >= 5.8 lets anyone make the 0:0 whiteout device; before, only root could.
  if (geteuid() == 0 || Exists(root() + "/a/gone")) {
    EXPECT_EQ(ListNames(root() + "/a"), (std::vector<std::string>{"gone", "kept", "later"}));
    struct stat st;
    ASSERT_EQ(lstat((root() + "/a/gone").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
  } else {
    EXPECT_EQ(ListNames(root() + "/a"), (std::vector<std::string>{"kept", "later"}));
  }
  if (geteuid() == 0) {
    char value[8] = {};
    ssize_t n = getxattr((root() + "/o").c_str(), "trusted.overlay.opaque", value, sizeof(value));
    ASSERT_EQ(n, 1) << "getxattr errno " << errno;
    EXPECT_EQ(value[0], 'y');
  }
}

// Hand-written tar blocks, for headers libarchive's writer will not produce.
class RawTar {
 public:
  void Header(const std::string& name, char type, uint64_t size) {
    std::string h(512, '\0');
    h.replace(0, name.size(), name);
    Octal(h, 100, 8, 0644);
    Octal(h, 108, 8, 0);
    Octal(h, 116, 8, 0);
    Octal(h, 124, 12, size);
    Octal(h, 136, 12, 1700000000);
    h[156] = type;
    h.replace(257, 6, std::string("ustar\0", 6));
    h.replace(263, 2, "00");
    h.replace(148, 8, "        ");
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    char buf[8];
    snprintf(buf, sizeof(buf), "%06o", sum);
    h.replace(148, 7, std::string(buf, 6) + '\0');
    out_ += h;
  }
  // A pax extended header with `records` (key, value) for the next entry.
  void Pax(const std::vector<std::pair<std::string, std::string>>& records) {
    std::string body;
    for (const auto& [k, v] : records) {
      std::string rest = " " + k + "=" + v + "\n";
      size_t len = rest.size() + 1;
      while (std::to_string(len).size() + rest.size() != len) ++len;
      body += std::to_string(len) + rest;
    }
    Header("PaxHeaders/x", 'x', body.size());
    Data(body);
  }
  void Data(const std::string& data) {
    out_ += data;
    out_.append((512 - data.size() % 512) % 512, '\0');
  }
  std::string Finish() { return out_ + std::string(1024, '\0'); }

 private:
  static void Octal(std::string& h, size_t off, size_t width, uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof(buf), "%0*llo", static_cast<int>(width - 1),
             static_cast<unsigned long long>(v));
    h.replace(off, width - 1, buf);
  }
  std::string out_;
};

constexpr uint64_t kTenGiB = 10ULL << 30;

TEST_F(UnpackTest, SparseTenGigabyteClaimFinishesFast) {
  RawTar raw;
  raw.Pax({{"GNU.sparse.major", "1"},
           {"GNU.sparse.minor", "0"},
           {"GNU.sparse.name", "big"},
           {"GNU.sparse.realsize", std::to_string(kTenGiB)}});
  raw.Header("GNUSparseFile.0/big", '0', 1024);
  std::string map = "1\n" + std::to_string(kTenGiB - 512) + "\n512\n";
  raw.Data(map);
  raw.Data(std::string(512, 'A'));
  WriteFile(tar(), raw.Finish());

  auto start = std::chrono::steady_clock::now();
  absl::Status status = UnpackLayer(tar(), root());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  if (status.ok()) {
    struct stat st;
    ASSERT_EQ(stat((root() + "/big").c_str(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), kTenGiB);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "holes were filled";
  }
}

TEST_F(UnpackTest, TruncatedTenGigabyteClaimFailsFast) {
  RawTar raw;
  raw.Pax({{"size", std::to_string(kTenGiB)}});
  raw.Header("big", '0', 0);
  raw.Data(std::string(4096, 'A'));
  WriteFile(tar(), raw.Finish());
  auto start = std::chrono::steady_clock::now();
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(status.ok());
  struct stat st;
  if (stat((root() + "/big").c_str(), &st) == 0) {
    EXPECT_LT(st.st_blocks * 512, 1 << 20);
  }
}

TEST_F(UnpackTest, NotATarIsInvalidArgument) {
  WriteFile(tar(), "this is not a tar archive, just some words\n");
  absl::Status status = UnpackLayer(tar(), root());
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), tar())) << status;
}

TEST_F(UnpackTest, MissingBlobIsNotFound) {
  absl::Status status = UnpackLayer(dir_.Sub("nope.tar"), root());
  EXPECT_TRUE(absl::IsNotFound(status)) << status;
}

TEST(DiffIdTest, SameForPlainAndGzip) {
  TempDir dir;
  for (auto [name, compression] : {std::pair{"plain.tar", TarBuilder::Compression::kNone},
                                   std::pair{"gz.tar.gz", TarBuilder::Compression::kGzip}}) {
    TarBuilder t(dir.Sub(name), compression);
    t.Dir("etc").File("etc/hostname", "box\n").Symlink("link", "etc/hostname");
  }
  absl::StatusOr<std::string> plain = DiffIdOf(dir.Sub("plain.tar"));
  absl::StatusOr<std::string> gz = DiffIdOf(dir.Sub("gz.tar.gz"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(gz.ok()) << gz.status();
  EXPECT_EQ(*plain, *gz);
  EXPECT_TRUE(absl::StartsWith(*plain, "sha256:"));
  EXPECT_EQ(plain->size(), 7u + 64u);
  EXPECT_NE(ReadFile(dir.Sub("plain.tar")), ReadFile(dir.Sub("gz.tar.gz")));
  EXPECT_TRUE(absl::IsNotFound(DiffIdOf(dir.Sub("missing")).status()));
}

}  // namespace
}  // namespace kapsel::store
