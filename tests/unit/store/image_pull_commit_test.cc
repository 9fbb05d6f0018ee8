// ImageStore::CommitPulledImage, DiscardBlobs and the pull leases: the store side of a pull, with
// blobs put into the content store here as a pull would have fetched them.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "store/digest.h"
#include "store/image_store.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using ::nlohmann::json;
using testing::CountRows;
using testing::Exists;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;

class PullCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    store_ = std::make_unique<ImageStore>(db_.get(), dir_.Sub("data"));
  }

  // A pulled image of one layer holding /hello: blobs stored, their digests in *written.
  ArchiveImage Pulled(const std::string& diff_id_override, std::vector<std::string>* written) {
    std::string tar = dir_.Sub(absl::StrCat("layer", ++n_, ".tar"));
    {
      TarBuilder t(tar);
      t.File("hello", absl::StrCat("hello ", n_, "\n"));
      t.Close();
    }
    std::string bytes = ReadFile(tar);
    ArchiveImage image;
    absl::StatusOr<std::string> layer = store_->content().Put(bytes);
    EXPECT_TRUE(layer.ok()) << layer.status();
    image.layer_blobs = {*layer};
    std::string diff_id = diff_id_override.empty() ? Sha256Of(bytes) : diff_id_override;
    image.config_json = json{{"architecture", "amd64"},
                             {"os", "linux"},
                             {"config", {{"Cmd", {"sh"}}}},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}}}
                            .dump();
    absl::StatusOr<std::string> config = store_->content().Put(image.config_json);
    EXPECT_TRUE(config.ok()) << config.status();
    image.config_digest = *config;
    std::string manifest = json{{"schemaVersion", 2},
                                {"config", {{"digest", *config}}},
                                {"layers", {{{"digest", *layer}}}}}
                               .dump();
    absl::StatusOr<std::string> manifest_digest = store_->content().Put(manifest);
    EXPECT_TRUE(manifest_digest.ok()) << manifest_digest.status();
    image.manifest_digest = *manifest_digest;
    image.references = {"reg.example:5000/team/app:1"};
    *written = {*layer, *config, *manifest_digest};
    return image;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ImageStore> store_;
  int n_ = 0;
};

TEST_F(PullCommitTest, CommitsRowsTagAndEvent) {
  std::vector<std::string> written;
  ArchiveImage image = Pulled("", &written);
  std::vector<EventRecord> events;
  absl::StatusOr<ImageRecord> record =
      store_->CommitPulledImage(image, written, "reg.example:5000/team/app:1", "", &events);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->id, image.config_digest);
  EXPECT_EQ(record->tags, std::vector<std::string>{"reg.example:5000/team/app:1"});
  ASSERT_EQ(record->chain_ids.size(), 1u);
  EXPECT_TRUE(Exists(absl::StrCat(store_->LayerDir(record->chain_ids[0]), "/hello")));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "pull");
  EXPECT_EQ(events[0].attributes["reference"], "reg.example:5000/team/app:1");
  absl::StatusOr<ImageRecord> resolved = store_->Resolve("reg.example:5000/team/app:1");
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->id, image.config_digest);
  for (const std::string& blob : written) EXPECT_TRUE(store_->content().Has(blob)) << blob;

  // Pulling it again (nothing written this time) keeps everything.
  record = store_->CommitPulledImage(image, {}, "reg.example:5000/team/app:1", "", &events);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(CountRows(*db_, "images"), 1);
}

TEST_F(PullCommitTest, ADiffIdMismatchLeavesNothing) {
  std::vector<std::string> written;
  ArchiveImage image = Pulled(Sha256Of("something else"), &written);
  absl::StatusOr<ImageRecord> record =
      store_->CommitPulledImage(image, written, "reg.example:5000/team/app:1");
  ASSERT_FALSE(record.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(record.status())) << record.status();
  EXPECT_NE(record.status().message().find("diff id"), std::string::npos) << record.status();
  for (const std::string& blob : written) EXPECT_FALSE(store_->content().Has(blob)) << blob;
  EXPECT_EQ(CountRows(*db_, "images"), 0);
  EXPECT_EQ(CountRows(*db_, "layers"), 0);
  EXPECT_TRUE(testing::ListNames(dir_.Sub("data/layers")).empty());
}

TEST_F(PullCommitTest, AMissingBlobIsAborted) {
  std::vector<std::string> written;
  ArchiveImage image = Pulled("", &written);
  ASSERT_TRUE(store_->content().Delete(image.layer_blobs[0]).ok());
  absl::StatusOr<ImageRecord> record =
      store_->CommitPulledImage(image, written, "reg.example:5000/team/app:1");
  ASSERT_FALSE(record.ok());
  EXPECT_TRUE(absl::IsAborted(record.status())) << record.status();
  EXPECT_FALSE(store_->content().Has(image.config_digest));
}

TEST_F(PullCommitTest, DiscardKeepsWhatARowUses) {
  std::vector<std::string> first_written;
  ArchiveImage first = Pulled("", &first_written);
  ASSERT_TRUE(store_->CommitPulledImage(first, first_written, "r").ok());
  std::vector<std::string> second_written;
  Pulled("", &second_written);
  std::vector<std::string> both = first_written;
  both.insert(both.end(), second_written.begin(), second_written.end());
  store_->DiscardBlobs(both);
  for (const std::string& blob : first_written) EXPECT_TRUE(store_->content().Has(blob)) << blob;
  for (const std::string& blob : second_written) EXPECT_FALSE(store_->content().Has(blob)) << blob;
}

// A lease taken before a pull fetches keeps what the pull verified through a restart (Recover)
// until the pull commits; the commit releases it, also the leases dead pulls held on its blobs.
TEST_F(PullCommitTest, ALeaseKeepsBlobsThroughRecoverUntilTheCommit) {
  std::vector<std::string> written;
  ArchiveImage image = Pulled("", &written);
  absl::StatusOr<std::string> crashed = store_->LeaseBlobs(written);
  ASSERT_TRUE(crashed.ok()) << crashed.status();
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 3);

  // A restart: the pull that held the lease is gone, its blobs stay.
  store_ = std::make_unique<ImageStore>(db_.get(), dir_.Sub("data"));
  ASSERT_TRUE(store_->Recover().ok());
  for (const std::string& blob : written) EXPECT_TRUE(store_->content().Has(blob)) << blob;
  absl::StatusOr<ImageStore::RemoveResult> pruned = store_->Prune(/*all=*/true);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  for (const std::string& blob : written) EXPECT_TRUE(store_->content().Has(blob)) << blob;

  // The pull again: a lease of its own; the commit releases it and the dead pull's.
  absl::StatusOr<std::string> lease = store_->LeaseBlobs(written);
  ASSERT_TRUE(lease.ok()) << lease.status();
  absl::StatusOr<ImageRecord> record =
      store_->CommitPulledImage(image, {}, "reg.example:5000/team/app:1", *lease);
  ASSERT_TRUE(record.ok()) << record.status();
  ASSERT_TRUE(store_->EndLease(*lease, /*release=*/false).ok());
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 0);
  absl::StatusOr<ImageStore::RemoveResult> removed =
      store_->Remove("reg.example:5000/team/app:1", /*force=*/false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  for (const std::string& blob : written) EXPECT_FALSE(store_->content().Has(blob)) << blob;
}

TEST_F(PullCommitTest, ALiveLeaseOfAnotherPullSurvivesACommit) {
  std::vector<std::string> written;
  ArchiveImage image = Pulled("", &written);
  absl::StatusOr<std::string> other = store_->LeaseBlobs(written);
  absl::StatusOr<std::string> mine = store_->LeaseBlobs(written);
  ASSERT_TRUE(other.ok() && mine.ok());
  ASSERT_TRUE(store_->CommitPulledImage(image, written, "r", *mine).ok());
  ASSERT_TRUE(store_->EndLease(*mine, /*release=*/false).ok());
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 3);  // the other pull's, still running
  ASSERT_TRUE(store_->Remove("reg.example:5000/team/app:1", /*force=*/false).ok());
  for (const std::string& blob : written) EXPECT_TRUE(store_->content().Has(blob)) << blob;
  // It failed on wrong content: its rows go and its blobs with them.
  ASSERT_TRUE(store_->EndLease(*other, /*release=*/true).ok());
  store_->DiscardBlobs(written);
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 0);
  for (const std::string& blob : written) EXPECT_FALSE(store_->content().Has(blob)) << blob;
}

TEST_F(PullCommitTest, ExpiredLeasesGoAtRecoverAndPrune) {
  std::vector<std::string> first;
  Pulled("", &first);
  ASSERT_TRUE(store_->LeaseBlobs(first).ok());
  std::vector<std::string> second;
  Pulled("", &second);
  ASSERT_TRUE(store_->LeaseBlobs(second).ok());
  auto age_leases = [&](const std::vector<std::string>& digests) {
    for (const std::string& digest : digests) {
      absl::StatusOr<Statement> stmt =
          db_->Prepare("UPDATE blob_leases SET created_at = created_at - ? WHERE digest = ?");
      ASSERT_TRUE(stmt.ok()) << stmt.status();
      ASSERT_TRUE(stmt->Bind(1, ImageStore::kLeaseLifetimeNanos + 1).Bind(2, digest).Run().ok());
    }
  };
  age_leases(first);
  ASSERT_TRUE(store_->Recover().ok());
  for (const std::string& blob : first) EXPECT_FALSE(store_->content().Has(blob)) << blob;
  for (const std::string& blob : second) EXPECT_TRUE(store_->content().Has(blob)) << blob;
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 3);

  age_leases(second);
  absl::StatusOr<ImageStore::RemoveResult> pruned = store_->Prune(/*all=*/false);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_GT(pruned->reclaimed_bytes, 0);
  for (const std::string& blob : second) EXPECT_FALSE(store_->content().Has(blob)) << blob;
  EXPECT_EQ(CountRows(*db_, "blob_leases"), 0);
}

}  // namespace
}  // namespace kapsel::store
