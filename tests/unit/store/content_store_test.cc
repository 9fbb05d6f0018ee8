#include "store/content_store.h"

#include <memory>

#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::Exists;
using testing::ListNames;
using testing::ReadFile;
using testing::TempDir;

// sha256("hello")
constexpr char kHelloDigest[] =
    "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

TEST(ContentStoreTest, PutStoresUnderDigest) {
  TempDir dir;
  ContentStore store(dir.Sub("blobs"));
  absl::StatusOr<std::string> digest = store.Put("hello");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, kHelloDigest);
  EXPECT_TRUE(store.Has(*digest));
  EXPECT_EQ(store.PathOf(*digest), dir.Sub("blobs/sha256/") + std::string(kHelloDigest + 7));
  EXPECT_EQ(ReadFile(store.PathOf(*digest)), "hello");
  EXPECT_TRUE(ListNames(dir.Sub("blobs/ingest")).empty());
  ASSERT_TRUE(store.Delete(*digest).ok());
  EXPECT_FALSE(store.Has(*digest));
  EXPECT_TRUE(store.Delete(*digest).ok());
}

TEST(ContentStoreTest, WriterVerifiesExpectedDigest) {
  TempDir dir;
  ContentStore store(dir.Sub("blobs"));
  absl::StatusOr<std::unique_ptr<ContentStore::Writer>> w = store.NewWriter();
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write("hel", 3).ok());
  ASSERT_TRUE((*w)->Write("lo", 2).ok());
  EXPECT_EQ((*w)->size(), 5);
  absl::StatusOr<std::string> digest = (*w)->Commit(kHelloDigest);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, kHelloDigest);
}

TEST(ContentStoreTest, MismatchLeavesNoFile) {
  TempDir dir;
  ContentStore store(dir.Sub("blobs"));
  absl::StatusOr<std::unique_ptr<ContentStore::Writer>> w = store.NewWriter();
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Write("goodbye", 7).ok());
  absl::StatusOr<std::string> digest = (*w)->Commit(kHelloDigest);
  EXPECT_FALSE(digest.ok());
  EXPECT_NE(digest.status().message().find("digest mismatch"), absl::string_view::npos);
  EXPECT_TRUE(ListNames(dir.Sub("blobs/ingest")).empty());
  EXPECT_TRUE(ListNames(dir.Sub("blobs/sha256")).empty());
}

TEST(ContentStoreTest, UncommittedWriterCleansUp) {
  TempDir dir;
  ContentStore store(dir.Sub("blobs"));
  {
    absl::StatusOr<std::unique_ptr<ContentStore::Writer>> w = store.NewWriter();
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Write("partial", 7).ok());
    EXPECT_EQ(ListNames(dir.Sub("blobs/ingest")).size(), 1u);
  }
  EXPECT_TRUE(ListNames(dir.Sub("blobs/ingest")).empty());
  EXPECT_TRUE(ListNames(dir.Sub("blobs/sha256")).empty());
}

TEST(ContentStoreTest, MalformedDigests) {
  TempDir dir;
  ContentStore store(dir.Sub("blobs"));
  EXPECT_EQ(store.PathOf("sha256:../../etc/passwd"), "");
  EXPECT_EQ(store.PathOf("md5:abcd"), "");
  EXPECT_EQ(store.PathOf(std::string("sha256:") + std::string(64, 'A')), "");
  EXPECT_FALSE(store.Has("sha256:abc"));
  EXPECT_TRUE(absl::IsInvalidArgument(store.Delete("sha256:../x")));
  absl::StatusOr<std::unique_ptr<ContentStore::Writer>> w = store.NewWriter();
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*w)->Commit("sha256:short").status()));
  EXPECT_FALSE(Exists(dir.Sub("blobs/sha256/short")));
}

}  // namespace
}  // namespace kapsel::store
