// ImageStore::CommitPulledImage and DiscardBlobs: the store side of a pull, with blobs put into
// the content store here as a pull would have fetched them.

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
      store_->CommitPulledImage(image, written, "reg.example:5000/team/app:1", &events);
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
  record = store_->CommitPulledImage(image, {}, "reg.example:5000/team/app:1", &events);
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

}  // namespace
}  // namespace kapsel::store
