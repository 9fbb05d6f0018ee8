#include "store/image_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "store/events_repo.h"
#include "store/layer_unpack.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::CountRows;
using testing::Exists;
using testing::ListNames;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;
using testing::WriteFile;

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ASSERT_EQ(mkdir(data_root().c_str(), 0700), 0);
    store_ = std::make_unique<ImageStore>(db_.get(), data_root());
  }

  std::string data_root() const { return dir_.Sub("data"); }

  std::string MakeRootfs(TarBuilder::Compression compression = TarBuilder::Compression::kGzip) {
    std::string path = dir_.Sub("rootfs.tar.gz");
    TarBuilder t(path, compression);
    t.Dir("bin")
        .File("bin/hello", "#!/bin/sh\necho hello\n", 0755)
        .Dir("etc")
        .File("etc/hostname", "box\n");
    return path;
  }

  // Nothing of a failed import may remain: no rows, no blobs, no layer dirs, no staging files.
  void ExpectNothingLeft() {
    for (const char* table : {"images", "layers", "image_layers", "image_tags", "events"}) {
      EXPECT_EQ(CountRows(*db_, table), 0) << table;
    }
    EXPECT_TRUE(ListNames(data_root() + "/blobs/sha256").empty());
    EXPECT_TRUE(ListNames(data_root() + "/blobs/ingest").empty());
    EXPECT_TRUE(ListNames(data_root() + "/layers").empty());
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageStoreTest, ImportEndToEnd) {
  std::string tar = MakeRootfs();
  uint64_t sequence = 0;
  absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(
      tar, "example/app:v1", {R"(CMD ["/bin/hello"])", "ENV A=b", "WORKDIR /srv"}, &sequence);
  ASSERT_TRUE(image.ok()) << image.status();

  EXPECT_TRUE(absl::StartsWith(image->id, "sha256:"));
  EXPECT_EQ(image->tags, std::vector<std::string>{"example/app:v1"});
  ASSERT_EQ(image->chain_ids.size(), 1u);
  absl::StatusOr<std::string> diff_id = DiffIdOf(tar);
  ASSERT_TRUE(diff_id.ok());
  EXPECT_EQ(image->chain_ids[0], *diff_id);
  EXPECT_EQ(image->config["rootfs"]["diff_ids"][0], *diff_id);
  EXPECT_EQ(image->config["config"]["Cmd"], nlohmann::json::array({"/bin/hello"}));
  EXPECT_EQ(image->config["config"]["WorkingDir"], "/srv");
  EXPECT_EQ(image->size_bytes,
            static_cast<int64_t>(std::string("#!/bin/sh\necho hello\n").size() + 4));
  EXPECT_GT(image->created_at, 0);

  // The image id is the digest of the stored config blob.
  EXPECT_TRUE(store_->content().Has(image->id));
  EXPECT_EQ(nlohmann::json::parse(ReadFile(store_->content().PathOf(image->id))), image->config);

  std::vector<std::string> lower = store_->LowerDirs(*image);
  ASSERT_EQ(lower.size(), 1u);
  EXPECT_EQ(lower[0], data_root() + "/layers/" + diff_id->substr(7));
  EXPECT_EQ(ReadFile(lower[0] + "/etc/hostname"), "box\n");
  struct stat st;
  ASSERT_EQ(stat(lower[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(ListNames(data_root() + "/layers").size(), 1u);
  EXPECT_TRUE(ListNames(data_root() + "/blobs/ingest").empty());

  EXPECT_EQ(CountRows(*db_, "images"), 1);
  EXPECT_EQ(CountRows(*db_, "layers"), 1);
  EXPECT_EQ(CountRows(*db_, "image_layers"), 1);
  EXPECT_EQ(CountRows(*db_, "image_tags"), 1);
  // Layer tarball and config.
  EXPECT_EQ(ListNames(data_root() + "/blobs/sha256").size(), 2u);

  EventRepo events(db_.get());
  absl::StatusOr<std::vector<EventRecord>> all = events.Since(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].sequence, sequence);
  EXPECT_EQ((*all)[0].type, "import");
  EXPECT_EQ((*all)[0].image_id, image->id);
  EXPECT_EQ((*all)[0].attributes.at("reference"), "example/app:v1");

  for (const std::string& ref : {std::string("example/app:v1"), image->id, image->id.substr(7, 12),
                                 image->id.substr(7, 4)}) {
    absl::StatusOr<ImageRecord> r = store_->Resolve(ref);
    ASSERT_TRUE(r.ok()) << ref << ": " << r.status();
    EXPECT_EQ(r->id, image->id);
    EXPECT_EQ(r->chain_ids, image->chain_ids);
    EXPECT_EQ(r->tags, image->tags);
    EXPECT_EQ(r->config, image->config);
  }
  absl::StatusOr<ImageRecord> missing = store_->Resolve("example/app");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_EQ(missing.status().message(), "no such image: example/app");
  EXPECT_TRUE(absl::IsNotFound(store_->Resolve("abc").status()));
}

TEST_F(ImageStoreTest, ReimportSharesTheLayerAndMovesTheTag) {
  std::string tar = MakeRootfs();
  absl::StatusOr<ImageRecord> first = store_->ImportRootfsTarball(tar, "app", {});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<ImageRecord> second = store_->ImportRootfsTarball(tar, "app", {"USER nobody"});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(first->id, second->id);
  EXPECT_EQ(first->chain_ids, second->chain_ids);
  EXPECT_EQ(ListNames(data_root() + "/layers").size(), 1u);
  EXPECT_EQ(CountRows(*db_, "layers"), 1);
  EXPECT_EQ(CountRows(*db_, "image_tags"), 1);

  absl::StatusOr<ImageRecord> tagged = store_->Resolve("app:latest");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->id, second->id);
  absl::StatusOr<std::vector<ImageRecord>> all = store_->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, second->id);
  EXPECT_TRUE((*all)[1].tags.empty());

  // The same layer, compressed differently: one layer row, and the new blob is not kept.
  std::string plain = dir_.Sub("plain.tar");
  {
    TarBuilder t(plain);
    t.Dir("bin")
        .File("bin/hello", "#!/bin/sh\necho hello\n", 0755)
        .Dir("etc")
        .File("etc/hostname", "box\n");
  }
  absl::StatusOr<ImageRecord> third = store_->ImportRootfsTarball(plain, "app:plain", {});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->chain_ids, first->chain_ids);
  // 1 layer blob + 3 configs.
  EXPECT_EQ(ListNames(data_root() + "/blobs/sha256").size(), 4u);
}

TEST_F(ImageStoreTest, BadReferenceLeavesNothing) {
  std::string tar = MakeRootfs();
  for (const char* bad : {"UPPER:case", "name:bad tag", "", "x:"}) {
    absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(tar, bad, {});
    EXPECT_TRUE(absl::IsInvalidArgument(image.status())) << bad << ": " << image.status();
  }
  ExpectNothingLeft();
}

TEST_F(ImageStoreTest, UnknownChangeIsNamed) {
  std::string tar = MakeRootfs();
  absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(tar, "app", {"FROBNICATE x"});
  EXPECT_TRUE(absl::IsInvalidArgument(image.status()));
  EXPECT_TRUE(absl::StrContains(image.status().message(), "FROBNICATE")) << image.status();
  ExpectNothingLeft();
}

TEST_F(ImageStoreTest, MissingFileIsNotFoundAndLeavesNothing) {
  std::string path = dir_.Sub("missing.tar");
  absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(path, "app", {});
  EXPECT_TRUE(absl::IsNotFound(image.status())) << image.status();
  EXPECT_TRUE(absl::StrContains(image.status().message(), path)) << image.status();
  ExpectNothingLeft();
}

TEST_F(ImageStoreTest, NonTarFileIsInvalidArgumentAndLeavesNothing) {
  std::string path = dir_.Sub("notes.txt");
  WriteFile(path, "definitely not a tarball\n");
  absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(path, "app", {});
  EXPECT_TRUE(absl::IsInvalidArgument(image.status())) << image.status();
  EXPECT_TRUE(absl::StrContains(image.status().message(), path)) << image.status();
  ExpectNothingLeft();
}

TEST_F(ImageStoreTest, HostileTarLeavesNothing) {
  std::string path = dir_.Sub("evil.tar");
  {
    TarBuilder t(path);
    t.Dir("etc").File("etc/ok", "fine").File("../evil", "escape");
  }
  absl::StatusOr<ImageRecord> image = store_->ImportRootfsTarball(path, "evil", {});
  EXPECT_TRUE(absl::IsInvalidArgument(image.status())) << image.status();
  ExpectNothingLeft();
  EXPECT_FALSE(Exists(data_root() + "/evil"));
}

TEST_F(ImageStoreTest, EnsureBusyboxBuildsOnceAndIsIdempotent) {
  const std::string busybox = "/bin/busybox";
  if (access(busybox.c_str(), X_OK) != 0) GTEST_SKIP() << busybox << " is not installed";
  absl::StatusOr<ImageRecord> image = store_->EnsureBusybox(busybox);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->tags, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ(image->config["config"]["Cmd"], nlohmann::json::array({"sh"}));
  EXPECT_EQ(
      image->config["config"]["Env"],
      nlohmann::json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));

  std::vector<std::string> lower = store_->LowerDirs(*image);
  ASSERT_EQ(lower.size(), 1u);
  char target[64] = {};
  ASSERT_GT(readlink((lower[0] + "/bin/sh").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "busybox");
  struct stat st;
  ASSERT_EQ(stat((lower[0] + "/bin/busybox").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0111, 0111u);
  ASSERT_EQ(stat((lower[0] + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_TRUE(absl::StrContains(ReadFile(lower[0] + "/etc/passwd"), "nobody:x:65534"));
  EXPECT_TRUE(absl::StrContains(ReadFile(lower[0] + "/etc/group"), "nogroup:x:65534"));
  for (const char* path : {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}) {
    ASSERT_EQ(stat((lower[0] + path).c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_size, 0) << path;
  }
  for (const char* path :
       {"/dev", "/proc", "/sys", "/root", "/home", "/var", "/usr/bin", "/sbin", "/run"}) {
    ASSERT_EQ(stat((lower[0] + path).c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << path;
  }
  EXPECT_FALSE(Exists(data_root() + "/.busybox-rootfs"));

  absl::StatusOr<ImageRecord> again = store_->EnsureBusybox(busybox);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->id, image->id);
  EXPECT_EQ(CountRows(*db_, "images"), 1);
  EXPECT_EQ(CountRows(*db_, "events"), 1);
  // No leftover temporary tarball in the data root.
  EXPECT_EQ(ListNames(data_root()), (std::vector<std::string>{"blobs", "layers"}));
}

TEST_F(ImageStoreTest, EnsureBusyboxMissingBinaryIsNotFound) {
  std::string path = dir_.Sub("no-busybox");
  absl::StatusOr<ImageRecord> image = store_->EnsureBusybox(path);
  EXPECT_TRUE(absl::IsNotFound(image.status())) << image.status();
  EXPECT_TRUE(absl::StrContains(image.status().message(), path));
  ExpectNothingLeft();
}

}  // namespace
}  // namespace kapsel::store
