// ImageStore::LoadArchive, Save, Tag, Remove, Prune and Recover against archives built here.
// Runs without root; as root it also checks the overlayfs form of whiteouts.

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "store/containers_repo.h"
#include "store/digest.h"
#include "store/fs_util.h"
#include "store/image_archive.h"
#include "store/image_store.h"
#include "store/layer_unpack.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using ::nlohmann::json;
using testing::CountRows;
using testing::Exists;
using testing::ListNames;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;

std::string Hex(const std::string& digest) { return digest.substr(7); }

class ImageLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    db_.reset();
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    mkdir(data_root().c_str(), 0700);
    store_ = std::make_unique<ImageStore>(db_.get(), data_root());
  }

  std::string data_root() const { return dir_.Sub("data"); }

  // A layer tarball's bytes, built by `fill`.
  std::string Layer(const std::function<void(TarBuilder&)>& fill,
                    TarBuilder::Compression compression = TarBuilder::Compression::kNone) {
    std::string path = dir_.Sub(absl::StrCat("layer", ++counter_, ".tar"));
    {
      TarBuilder t(path, compression);
      fill(t);
    }
    return ReadFile(path);
  }

  std::string DiffId(const std::string& blob) {
    std::string path = dir_.Sub(absl::StrCat("blob", ++counter_));
    testing::WriteFile(path, blob);
    absl::StatusOr<std::string> diff = DiffIdOf(path);
    EXPECT_TRUE(diff.ok()) << diff.status();
    return diff.ok() ? *diff : "";
  }

  std::string Config(const std::vector<std::string>& blobs, const std::string& cmd = "sh") {
    json diff_ids = json::array();
    for (const std::string& blob : blobs) diff_ids.push_back(DiffId(blob));
    return json{{"architecture", "amd64"},
                {"os", "linux"},
                {"created", "2024-01-02T03:04:05Z"},
                {"config", {{"Cmd", {cmd}}}},
                {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
        .dump();
  }

  // An OCI image layout tar of one image with `blobs` as layers, tagged with each of `refs`.
  std::string OciArchive(const std::vector<std::string>& blobs,
                         const std::vector<std::string>& refs, std::string* manifest_digest,
                         const std::string& config_override = "") {
    std::string config = config_override.empty() ? Config(blobs) : config_override;
    json layers = json::array();
    for (const std::string& blob : blobs) {
      layers.push_back({{"mediaType", absl::StartsWith(blob, "\x1f\x8b")
                                          ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                          : "application/vnd.oci.image.layer.v1.tar"},
                        {"digest", Sha256Of(blob)},
                        {"size", blob.size()}});
    }
    std::string manifest = json{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
          {"digest", Sha256Of(config)},
          {"size", config.size()}}},
        {"layers", layers}}.dump();
    *manifest_digest = Sha256Of(manifest);
    json index = {{"schemaVersion", 2}, {"manifests", json::array()}};
    for (const std::string& ref : refs) {
      index["manifests"].push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                    {"digest", *manifest_digest},
                                    {"size", manifest.size()},
                                    {"annotations", {{"org.opencontainers.image.ref.name", ref}}}});
    }
    std::string path = dir_.Sub(absl::StrCat("oci", ++counter_, ".tar"));
    TarBuilder t(path);
    t.File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")
        .File("index.json", index.dump())
        .Dir("blobs")
        .Dir("blobs/sha256")
        .File("blobs/sha256/" + Hex(Sha256Of(manifest)), manifest)
        .File("blobs/sha256/" + Hex(Sha256Of(config)), config);
    for (const std::string& blob : blobs) t.File("blobs/sha256/" + Hex(Sha256Of(blob)), blob);
    t.Close();
    return path;
  }

  // Three layers: the second hides a/x with a whiteout and makes d/ opaque.
  std::vector<std::string> ThreeLayers() {
    return {Layer([](TarBuilder& t) {
              t.Dir("a").File("a/x", "x").File("a/y", "y").Dir("d").File("d/old", "old");
            }),
            Layer(
                [](TarBuilder& t) {
                  t.Dir("a")
                      .File("a/.wh.x", "")
                      .Dir("d")
                      .File("d/.wh..wh..opq", "")
                      .File("d/new", "new");
                },
                TarBuilder::Compression::kGzip),
            Layer([](TarBuilder& t) { t.Dir("b").File("b/z", "z"); })};
  }

  void ExpectNothingLeft() {
    for (const char* table : {"images", "layers", "image_layers", "image_tags", "events"}) {
      EXPECT_EQ(CountRows(*db_, table), 0) << table;
    }
    EXPECT_TRUE(ListNames(data_root() + "/blobs/sha256").empty());
    EXPECT_TRUE(ListNames(data_root() + "/blobs/ingest").empty());
    EXPECT_TRUE(ListNames(data_root() + "/layers").empty());
  }

  void AddContainer(const std::string& image_id) {
    ContainerRecord c;
    c.id = std::string(64, 'e');
    c.name = "user";
    c.image_ref = "app:1";
    c.image_id = image_id;
    c.state = "exited";
    c.spec_json = "{}";
    c.command_json = "[]";
    ASSERT_TRUE(ContainerRepo(db_.get()).Insert(c).ok());
  }

  TempDir dir_;
  int counter_ = 0;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageLoadTest, OciLayoutWithThreeLayersWhiteoutAndOpaqueDir) {
  std::vector<std::string> blobs = ThreeLayers();
  std::string manifest;
  std::string archive = OciArchive(blobs, {"app:1", "docker.io/library/app:2"}, &manifest);
  std::vector<EventRecord> events;
  absl::StatusOr<std::vector<ImageRecord>> images = store_->LoadArchive(archive, &events);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 1u);
  const ImageRecord& image = (*images)[0];
  EXPECT_EQ(image.tags, (std::vector<std::string>{"app:1", "app:2"}));
  ASSERT_EQ(image.chain_ids.size(), 3u);
  EXPECT_EQ(image.chain_ids[0], DiffId(blobs[0]));
  EXPECT_EQ(image.chain_ids[1], Sha256Of(absl::StrCat(DiffId(blobs[0]), " ", DiffId(blobs[1]))));
  EXPECT_EQ(image.config["config"]["Cmd"][0], "sh");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "load");
  EXPECT_GT(events[0].sequence, 0u);

  std::vector<std::string> lower = store_->LowerDirs(image);
  ASSERT_EQ(lower.size(), 3u);  // top first
  EXPECT_EQ(ReadFile(lower[0] + "/b/z"), "z");
  EXPECT_EQ(ReadFile(lower[2] + "/a/x"), "x");
  EXPECT_EQ(ReadFile(lower[1] + "/d/new"), "new");
  if (geteuid() == 0) {
    struct stat st;
    ASSERT_EQ(lstat((lower[1] + "/a/x").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
    char value[4] = {};
    EXPECT_EQ(getxattr((lower[1] + "/d").c_str(), "trusted.overlay.opaque", value, sizeof(value)),
              1);
    EXPECT_EQ(value[0], 'y');
  }
  EXPECT_FALSE(Exists(lower[1] + "/a/.wh.x"));
  // Every blob is kept: layers, config, manifest.
  EXPECT_EQ(ListNames(data_root() + "/blobs/sha256").size(), 5u);

  // Loading it again changes nothing.
  images = store_->LoadArchive(archive);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(CountRows(*db_, "images"), 1);
  EXPECT_EQ(CountRows(*db_, "layers"), 3);
}

TEST_F(ImageLoadTest, SaveThenLoadKeepsEveryDigest) {
  std::string manifest;
  std::string archive = OciArchive(ThreeLayers(), {"app:1"}, &manifest);
  absl::StatusOr<std::vector<ImageRecord>> loaded = store_->LoadArchive(archive);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  std::string saved;
  absl::Status status = store_->Save({"app:1"}, [&](absl::string_view bytes) {
    saved.append(bytes.data(), bytes.size());
    return absl::OkStatus();
  });
  ASSERT_TRUE(status.ok()) << status;
  std::string saved_path = dir_.Sub("saved.tar");
  testing::WriteFile(saved_path, saved);

  ContentStore other(dir_.Sub("other-blobs"));
  std::vector<std::string> written;
  absl::StatusOr<std::vector<ArchiveImage>> read = ReadImageArchive(saved_path, other, &written);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].manifest_digest, manifest);
  EXPECT_EQ((*read)[0].config_digest, (*loaded)[0].id);
  EXPECT_EQ((*read)[0].references, std::vector<std::string>{"app:1"});

  // Into an empty store: the same image id and chain ids.
  store_.reset();
  db_.reset();
  ASSERT_TRUE(RemoveTree(data_root()).ok());
  for (const char* suffix : {"", "-wal", "-shm"})
    unlink(dir_.Sub(absl::StrCat("kapsel.db", suffix)).c_str());
  Open();
  absl::StatusOr<std::vector<ImageRecord>> again = store_->LoadArchive(saved_path);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].id, (*loaded)[0].id);
  EXPECT_EQ((*again)[0].chain_ids, (*loaded)[0].chain_ids);
}

TEST_F(ImageLoadTest, SaveOfAnImportMakesAManifest) {
  std::string rootfs = dir_.Sub("rootfs.tar");
  {
    TarBuilder t(rootfs);
    t.Dir("bin").File("bin/hello", "hi", 0755);
  }
  absl::StatusOr<ImageRecord> imported = store_->ImportRootfsTarball(rootfs, "imp:1", {});
  ASSERT_TRUE(imported.ok()) << imported.status();
  std::string saved;
  ASSERT_TRUE(store_
                  ->Save({imported->id.substr(7, 12)},
                         [&](absl::string_view bytes) {
                           saved.append(bytes.data(), bytes.size());
                           return absl::OkStatus();
                         })
                  .ok());
  std::string saved_path = dir_.Sub("saved.tar");
  testing::WriteFile(saved_path, saved);
  ContentStore other(dir_.Sub("other-blobs"));
  std::vector<std::string> written;
  absl::StatusOr<std::vector<ArchiveImage>> read = ReadImageArchive(saved_path, other, &written);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)[0].config_digest, imported->id);
  EXPECT_EQ((*read)[0].references, std::vector<std::string>{"imp:1"});
}

TEST_F(ImageLoadTest, DockerArchiveLegacyLayout) {
  std::string l1 = Layer([](TarBuilder& t) { t.Dir("etc").File("etc/os", "one"); });
  std::string l2 = Layer([](TarBuilder& t) { t.Dir("etc").File("etc/.wh.os", ""); });
  std::string config = Config({l1, l2}, "/bin/true");
  std::string config_name = Hex(Sha256Of(config)) + ".json";
  json manifest = json::array({{{"Config", config_name},
                                {"RepoTags", {"docker.io/library/web:1", "localhost:5000/web:2"}},
                                {"Layers", {"aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"}}}});
  // Two layers with the same content in one image: docker links the second to the first.
  config = Config({l1, l2, l1}, "/bin/true");
  config_name = Hex(Sha256Of(config)) + ".json";
  manifest[0]["Config"] = config_name;
  std::string path = dir_.Sub("docker.tar");
  {
    TarBuilder t(path);
    t.Dir("aaa")
        .File("aaa/layer.tar", l1)
        .File("aaa/VERSION", "1.0")
        .File("aaa/json", "{}")
        .Dir("bbb")
        .File("bbb/layer.tar", l2)
        .Dir("ccc")
        .Symlink("ccc/layer.tar", "../aaa/layer.tar")
        .File(config_name, config)
        .File("manifest.json", manifest.dump())
        .File("repositories", "{}");
  }
  absl::StatusOr<std::vector<ImageRecord>> images = store_->LoadArchive(path);
  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ((*images)[0].id, Sha256Of(config));
  EXPECT_EQ((*images)[0].tags, (std::vector<std::string>{"web:1", "localhost:5000/web:2"}));
  EXPECT_EQ((*images)[0].chain_ids.size(), 3u);
  EXPECT_EQ(CountRows(*db_, "layers"), 3);
  // Layer blobs and the config; nothing else of the archive stays.
  EXPECT_EQ(ListNames(data_root() + "/blobs/sha256").size(), 3u);
}

TEST_F(ImageLoadTest, BlobNotMatchingItsNameLeavesNothing) {
  std::string layer = Layer([](TarBuilder& t) { t.File("f", "data"); });
  // The layer's bytes changed under the same name.
  std::string bad_layer = Layer([](TarBuilder& t) { t.File("f", "evil"); });
  std::string config = Config({layer});
  std::string path = dir_.Sub("bad.tar");
  {
    TarBuilder t(path);
    t.File("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")
        .File("index.json", R"({"schemaVersion":2,"manifests":[]})")
        .File("blobs/sha256/" + Hex(Sha256Of(config)), config)
        .File("blobs/sha256/" + Hex(Sha256Of(layer)), bad_layer);
  }
  absl::StatusOr<std::vector<ImageRecord>> images = store_->LoadArchive(path);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kInvalidArgument) << images.status();
  EXPECT_TRUE(absl::StrContains(images.status().message(), "does not match")) << images.status();
  ExpectNothingLeft();
}

TEST_F(ImageLoadTest, DiffIdMismatchLeavesNothing) {
  std::string layer = Layer([](TarBuilder& t) { t.File("f", "data"); });
  std::string other = Layer([](TarBuilder& t) { t.File("f", "other"); });
  std::string manifest;
  std::string archive = OciArchive({layer}, {"app:1"}, &manifest, Config({other}));
  absl::StatusOr<std::vector<ImageRecord>> images = store_->LoadArchive(archive);
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().code(), absl::StatusCode::kInvalidArgument) << images.status();
  EXPECT_TRUE(absl::StrContains(images.status().message(), "diff id")) << images.status();
  ExpectNothingLeft();
}

TEST_F(ImageLoadTest, MissingBlobLeavesNothing) {
  std::string layer = Layer([](TarBuilder& t) { t.File("f", "data"); });
  std::string config = Config({layer});
  std::string manifest = json{{"schemaVersion", 2},
                              {"config", {{"digest", Sha256Of(config)}, {"size", config.size()}}},
                              {"layers", {{{"digest", Sha256Of(layer)}, {"size", layer.size()}}}}}
                             .dump();
  std::string path = dir_.Sub("missing.tar");
  {
    TarBuilder t(path);
    t.File("index.json",
           json{{"schemaVersion", 2},
                {"manifests", {{{"digest", Sha256Of(manifest)}, {"size", manifest.size()}}}}}
               .dump())
        .File("blobs/sha256/" + Hex(Sha256Of(manifest)), manifest)
        .File("blobs/sha256/" + Hex(Sha256Of(config)), config);
  }
  absl::StatusOr<std::vector<ImageRecord>> images = store_->LoadArchive(path);
  ASSERT_FALSE(images.ok());
  EXPECT_TRUE(absl::StrContains(images.status().message(), "missing")) << images.status();
  ExpectNothingLeft();
}

TEST_F(ImageLoadTest, RmiUntagsDeletesAndRefusesWhileUsed) {
  std::string manifest;
  std::string archive = OciArchive(ThreeLayers(), {"app:1", "app:2"}, &manifest);
  absl::StatusOr<std::vector<ImageRecord>> loaded = store_->LoadArchive(archive);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string id = (*loaded)[0].id;
  std::vector<std::string> layer_dirs = store_->LowerDirs((*loaded)[0]);

  // One of two tags: only untagged.
  absl::StatusOr<ImageStore::RemoveResult> removed = store_->Remove("app:2", false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->untagged, std::vector<std::string>{"app:2"});
  EXPECT_TRUE(removed->deleted.empty());
  ASSERT_TRUE(store_->Tag("app:1", "app:2").ok());

  // By id with two tags: must be forced.
  removed = store_->Remove(id, false);
  EXPECT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition) << removed.status();

  // A container (of any state) keeps it.
  ASSERT_TRUE(store_->Remove("app:2", false).ok());
  AddContainer(id);
  removed = store_->Remove("app:1", false);
  ASSERT_EQ(removed.status().code(), absl::StatusCode::kFailedPrecondition) << removed.status();
  EXPECT_TRUE(absl::StrContains(removed.status().message(), "eeeeeeeeeeee")) << removed.status();
  EXPECT_TRUE(store_->Resolve("app:1").ok());

  // Forced: untagged, but the layers stay for the container; prune leaves it too.
  removed = store_->Remove("app:1", true);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->untagged, std::vector<std::string>{"app:1"});
  EXPECT_TRUE(removed->deleted.empty());
  absl::StatusOr<ImageStore::RemoveResult> pruned = store_->Prune(false);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_TRUE(pruned->deleted.empty());
  for (const std::string& dir : layer_dirs) EXPECT_TRUE(Exists(dir)) << dir;

  // Once the container is gone, prune frees everything.
  ASSERT_TRUE(ContainerRepo(db_.get()).Delete(std::string(64, 'e')).ok());
  std::vector<EventRecord> events;
  pruned = store_->Prune(false, &events);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->deleted, std::vector<std::string>{id});
  EXPECT_GT(pruned->reclaimed_bytes, 0);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type, "delete");
  for (const std::string& dir : layer_dirs) EXPECT_FALSE(Exists(dir)) << dir;
  EXPECT_TRUE(ListNames(data_root() + "/blobs/sha256").empty());
  EXPECT_EQ(CountRows(*db_, "layers"), 0);
  EXPECT_EQ(CountRows(*db_, "images"), 0);
}

TEST_F(ImageLoadTest, RmiKeepsLayersAnotherImageShares) {
  std::vector<std::string> blobs = ThreeLayers();
  std::string manifest;
  ASSERT_TRUE(store_->LoadArchive(OciArchive(blobs, {"full:1"}, &manifest)).ok());
  absl::StatusOr<std::vector<ImageRecord>> base =
      store_->LoadArchive(OciArchive({blobs[0]}, {"base:1"}, &manifest));
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(CountRows(*db_, "layers"), 3);
  absl::StatusOr<ImageStore::RemoveResult> removed = store_->Remove("full:1", false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->deleted.size(), 1u);
  EXPECT_EQ(CountRows(*db_, "layers"), 1);
  EXPECT_TRUE(Exists(store_->LowerDirs((*base)[0])[0]));
  EXPECT_EQ(ListNames(data_root() + "/layers").size(), 1u);
}

TEST_F(ImageLoadTest, RecoverSweepsWhatACrashLeft) {
  std::string manifest;
  absl::StatusOr<std::vector<ImageRecord>> loaded =
      store_->LoadArchive(OciArchive(ThreeLayers(), {"app:1"}, &manifest));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  size_t blobs = ListNames(data_root() + "/blobs/sha256").size();
  // An unpack interrupted before its rename, a layer whose row never committed, a blob without
  // a row and a staging file.
  ASSERT_EQ(mkdir((data_root() + "/layers/.tmp-abc").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((data_root() + "/layers/" + std::string(64, '1')).c_str(), 0700), 0);
  absl::StatusOr<std::string> orphan = store_->content().Put("orphan");
  ASSERT_TRUE(orphan.ok());
  testing::WriteFile(data_root() + "/blobs/ingest/blob-x", "partial");

  ASSERT_TRUE(store_->Recover().ok());
  EXPECT_EQ(ListNames(data_root() + "/layers").size(), 3u);
  EXPECT_EQ(ListNames(data_root() + "/blobs/sha256").size(), blobs);
  EXPECT_FALSE(store_->content().Has(*orphan));
  EXPECT_TRUE(ListNames(data_root() + "/blobs/ingest").empty());
  EXPECT_TRUE(store_->Resolve("app:1").ok());
}

}  // namespace
}  // namespace kapsel::store
