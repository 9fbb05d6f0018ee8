// ImageStore::LoadArchive and ImageStore::Save: images in and out as archives; and the commit of
// a pulled image, which goes through the same checks and transaction as a loaded one.

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "store/digest.h"
#include "store/events_repo.h"
#include "store/fs_util.h"
#include "store/image_archive.h"
#include "store/image_config.h"
#include "store/image_store.h"
#include "store/layer_unpack.h"

namespace kapsel::store {
namespace {

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// The config's `created` (RFC 3339) in unix nanoseconds, or now when it has none.
int64_t CreatedNanos(const nlohmann::json& config) {
  absl::Time t;
  std::string err;
  if (config.contains("created") && config["created"].is_string() &&
      absl::ParseTime(absl::RFC3339_full, config["created"].get<std::string>(), &t, &err)) {
    return absl::ToUnixNanos(t);
  }
  return absl::ToUnixNanos(absl::Now());
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A layer as it will be committed.
struct LayerRow {
  std::string chain_id, diff_id, blob_digest;
  int64_t size_bytes = 0;
};

// An image as it will be committed.
struct ImageRows {
  ArchiveImage archive;
  std::vector<LayerRow> layers;
  std::vector<ImageReference> refs;
  int64_t created_at = 0;
  int64_t size_bytes = 0;
};

// The blob digest and size of an existing layer row; nullopt when there is none.
absl::StatusOr<std::optional<LayerRow>> FindLayer(Database* db, const std::string& chain_id) {
  absl::StatusOr<Statement> stmt =
      db->Prepare("SELECT diff_id, blob_digest, size_bytes FROM layers WHERE chain_id = ?");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, chain_id).Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return LayerRow{chain_id, stmt->ColumnText(0), stmt->ColumnText(1), stmt->ColumnInt64(2)};
}

}  // namespace

absl::StatusOr<std::vector<ImageRecord>> ImageStore::LoadArchive(const std::string& archive_path,
                                                                 std::vector<EventRecord>* events) {
  absl::MutexLock lock(&import_mu_);
  absl::StatusOr<std::vector<ImageRecord>> images = LoadLocked(archive_path, events);
  if (!images.ok()) return Annotate(images.status(), absl::StrCat("load ", archive_path));
  return images;
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::LoadLocked(const std::string& archive_path,
                                                                std::vector<EventRecord>* events) {
  for (const std::string& dir : {content_.root(), layers_root_}) {
    absl::Status status = MkdirAll(dir, 0700);
    if (!status.ok()) return status;
  }
  // Whatever happens, blobs this load stored and layer dirs it made that no row references
  // are removed again: on failure that is everything, on success what the archive had extra.
  std::vector<std::string> written_blobs;
  std::vector<std::string> created_layers;
  absl::Cleanup collect_garbage = [&] { CollectGarbage(written_blobs, created_layers); };

  absl::StatusOr<std::vector<ArchiveImage>> found =
      ReadImageArchive(archive_path, content_, &written_blobs);
  if (!found.ok()) return found.status();
  if (found->empty()) return absl::InvalidArgumentError("the archive holds no image");
  return CommitImagesLocked(*std::move(found), "load", {}, &created_layers, events);
}

absl::StatusOr<ImageRecord> ImageStore::CommitPulledImage(ArchiveImage image,
                                                          const std::vector<std::string>& written,
                                                          const std::string& remote_reference,
                                                          const std::string& lease_id,
                                                          std::vector<EventRecord>* events) {
  absl::MutexLock lock(&import_mu_);
  std::vector<std::string> created_layers;
  absl::Cleanup collect_garbage = [&] { CollectGarbage(written, created_layers); };
  for (const std::string& dir : {content_.root(), layers_root_}) {
    absl::Status status = MkdirAll(dir, 0700);
    if (!status.ok()) return status;
  }
  std::vector<std::string> blobs = image.layer_blobs;
  blobs.push_back(image.config_digest);
  if (!image.manifest_digest.empty()) blobs.push_back(image.manifest_digest);
  for (const std::string& blob : blobs) {
    if (!content_.Has(blob)) {
      return absl::AbortedError(
          absl::StrCat("blob ", blob, " was removed while the pull ran; pull again"));
    }
  }
  std::vector<ArchiveImage> found;
  found.push_back(std::move(image));
  // The lease goes with the commit that makes rows reference its blobs: no moment, not even
  // across a crash, when neither protects them.
  std::function<absl::Status()> release;
  if (!lease_id.empty()) release = [&] { return ReleaseLeaseRows(lease_id, blobs); };
  absl::StatusOr<std::vector<ImageRecord>> images =
      CommitImagesLocked(std::move(found), "pull", {{"reference", remote_reference}},
                         &created_layers, events, release);
  if (!images.ok()) return images.status();
  return std::move(images->front());
}

void ImageStore::DiscardBlobs(const std::vector<std::string>& digests) {
  absl::MutexLock lock(&import_mu_);
  CollectGarbage(digests, {});
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::CommitImagesLocked(
    std::vector<ArchiveImage> found, const std::string& event_type,
    const std::map<std::string, std::string>& attributes, std::vector<std::string>* created_layers,
    std::vector<EventRecord>* events, const std::function<absl::Status()>& also_in_transaction) {
  std::vector<ImageRows> plan;
  // Layers unpacked by this commit, by chain id: images may share layers.
  std::map<std::string, LayerRow> new_layers;
  for (ArchiveImage& archive : found) {
    ImageRows rows;
    std::string what = absl::StrCat("image ", archive.config_digest);
    for (const std::string& reference : archive.references) {
      absl::StatusOr<ImageReference> ref = ParseImageReference(reference);
      if (!ref.ok()) return Annotate(ref.status(), what);
      rows.refs.push_back(*ref);
    }
    nlohmann::json config = nlohmann::json::parse(archive.config_json, nullptr, false);
    if (!config.is_object() || !config["rootfs"].is_object() ||
        !config["rootfs"]["diff_ids"].is_array() ||
        config["rootfs"]["diff_ids"].size() != archive.layer_blobs.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the config's rootfs.diff_ids do not list one diff id per layer"));
    }
    const nlohmann::json& diff_ids = config["rootfs"]["diff_ids"];
    rows.created_at = CreatedNanos(config);
    std::string chain_id;
    for (size_t i = 0; i < archive.layer_blobs.size(); ++i) {
      const std::string& blob = archive.layer_blobs[i];
      if (!diff_ids[i].is_string() || !ValidateDigest(diff_ids[i].get<std::string>()).ok()) {
        return absl::InvalidArgumentError(absl::StrCat(what, ": diff id ", i, " is malformed"));
      }
      std::string diff_id = diff_ids[i].get<std::string>();
      // The chain id names a layer together with everything below it (OCI image spec,
      // config.md "Layer ChainID").
      chain_id = i == 0 ? diff_id : Sha256Of(absl::StrCat(chain_id, " ", diff_id));
      if (auto it = new_layers.find(chain_id); it != new_layers.end()) {
        rows.layers.push_back(it->second);
        continue;
      }
      absl::StatusOr<std::optional<LayerRow>> existing = FindLayer(db_, chain_id);
      if (!existing.ok()) return existing.status();
      bool verified = *existing && (*existing)->blob_digest == blob &&
                      (*existing)->diff_id == diff_id && IsDirectory(LayerDir(chain_id));
      if (!verified) {
        absl::StatusOr<std::string> actual = DiffIdOf(content_.PathOf(blob));
        if (!actual.ok()) return Annotate(actual.status(), absl::StrCat(what, ": layer ", blob));
        if (*actual != diff_id) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": layer ", i, " (blob ", blob,
                                                         ") has diff id ", *actual,
                                                         ", the config says ", diff_id));
        }
      }
      LayerRow layer{chain_id, diff_id, blob, 0};
      if (*existing) layer.blob_digest = (*existing)->blob_digest;
      bool created = false;
      absl::StatusOr<int64_t> size = EnsureLayerDir(chain_id, content_.PathOf(blob), &created);
      if (created) created_layers->push_back(chain_id);
      if (!size.ok()) return Annotate(size.status(), absl::StrCat(what, ": layer ", blob));
      layer.size_bytes = *size;
      new_layers[chain_id] = layer;
      rows.layers.push_back(layer);
    }
    for (size_t i = 0; i < rows.layers.size(); ++i) {
      rows.size_bytes += rows.layers[i].size_bytes;
      // The stored manifest is written back by save only if it names the blobs we keep.
      if (rows.layers[i].blob_digest != archive.layer_blobs[i]) archive.manifest_digest.clear();
    }
    rows.archive = std::move(archive);
    plan.push_back(std::move(rows));
  }

  std::vector<EventRecord> appended;
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    appended.clear();
    for (const ImageRows& rows : plan) {
      const std::string& id = rows.archive.config_digest;
      for (const LayerRow& layer : rows.layers) {
        absl::StatusOr<Statement> stmt = db_->Prepare(
            "INSERT INTO layers (chain_id, diff_id, blob_digest, size_bytes) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (chain_id) DO NOTHING");
        if (!stmt.ok()) return stmt.status();
        absl::Status s = stmt->Bind(1, layer.chain_id)
                             .Bind(2, layer.diff_id)
                             .Bind(3, layer.blob_digest)
                             .Bind(4, layer.size_bytes)
                             .Run();
        if (!s.ok()) return s;
      }
      absl::StatusOr<Statement> stmt = db_->Prepare(
          "INSERT INTO images (id, config_json, created_at, size_bytes, manifest_digest)"
          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET manifest_digest ="
          " CASE WHEN manifest_digest = '' THEN excluded.manifest_digest ELSE manifest_digest END");
      if (!stmt.ok()) return stmt.status();
      absl::Status s = stmt->Bind(1, id)
                           .Bind(2, rows.archive.config_json)
                           .Bind(3, rows.created_at)
                           .Bind(4, rows.size_bytes)
                           .Bind(5, rows.archive.manifest_digest)
                           .Run();
      if (!s.ok()) return s;
      for (size_t i = 0; i < rows.layers.size(); ++i) {
        stmt = db_->Prepare(
            "INSERT INTO image_layers (image_id, idx, diff_id, chain_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (image_id, idx) DO NOTHING");
        if (!stmt.ok()) return stmt.status();
        s = stmt->Bind(1, id)
                .Bind(2, static_cast<int64_t>(i))
                .Bind(3, rows.layers[i].diff_id)
                .Bind(4, rows.layers[i].chain_id)
                .Run();
        if (!s.ok()) return s;
      }
      std::vector<std::string> names;
      for (const ImageReference& ref : rows.refs) {
        // A tag names one image: loading under a taken tag moves it.
        stmt = db_->Prepare(
            "INSERT INTO image_tags (name, tag, image_id) VALUES (?, ?, ?)"
            " ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id");
        if (!stmt.ok()) return stmt.status();
        s = stmt->Bind(1, ref.name).Bind(2, ref.tag).Bind(3, id).Run();
        if (!s.ok()) return s;
        names.push_back(ref.ToString());
      }
      EventRecord event;
      event.type = event_type;
      event.image_id = id;
      event.attributes.insert(attributes.begin(), attributes.end());
      event.attributes["references"] = absl::StrJoin(names, ",");
      absl::StatusOr<uint64_t> sequence = EventRepo(db_).Append(event);
      if (!sequence.ok()) return sequence.status();
      appended.push_back(event);
    }
    return also_in_transaction ? also_in_transaction() : absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (events != nullptr) events->insert(events->end(), appended.begin(), appended.end());

  std::vector<ImageRecord> out;
  for (const ImageRows& rows : plan) {
    absl::StatusOr<ImageRecord> image = Load(rows.archive.config_digest);
    if (!image.ok()) return image.status();
    // What this archive named it, not the tags it had before.
    image->tags.clear();
    for (const ImageReference& ref : rows.refs) image->tags.push_back(ref.ToString());
    out.push_back(*std::move(image));
  }
  return out;
}

absl::Status ImageStore::Save(const std::vector<std::string>& refs,
                              const std::function<absl::Status(absl::string_view)>& sink) {
  // Shared: nothing is removed until the archive is written; imports and loads go on.
  absl::ReaderMutexLock use(&use_mu_);
  std::vector<SaveImage> images;
  std::map<std::string, size_t> by_id;
  for (const std::string& ref : refs) {
    absl::StatusOr<ImageRecord> image = Resolve(ref);
    if (!image.ok()) return image.status();
    auto [it, inserted] = by_id.emplace(image->id, images.size());
    if (inserted) {
      SaveImage save;
      save.config_digest = image->id;
      absl::StatusOr<Statement> stmt = db_->Prepare(
          "SELECT l.blob_digest FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id"
          " WHERE il.image_id = ? ORDER BY il.idx");
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, image->id);
      while (true) {
        absl::StatusOr<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        save.layer_blobs.push_back(stmt->ColumnText(0));
      }
      stmt = db_->Prepare("SELECT manifest_digest FROM images WHERE id = ?");
      if (!stmt.ok()) return stmt.status();
      absl::StatusOr<bool> row = stmt->Bind(1, image->id).Step();
      if (!row.ok()) return row.status();
      if (*row) save.manifest_digest = stmt->ColumnText(0);
      images.push_back(std::move(save));
    }
    SaveImage& save = images[it->second];
    // By tag: that tag; by id: every tag of the image.
    absl::StatusOr<ImageReference> parsed = ParseImageReference(ref);
    std::vector<std::string> names;
    if (parsed.ok() && std::find(image->tags.begin(), image->tags.end(), parsed->ToString()) !=
                           image->tags.end()) {
      names.push_back(parsed->ToString());
    } else {
      names = image->tags;
    }
    for (const std::string& name : names) {
      if (std::find(save.references.begin(), save.references.end(), name) ==
          save.references.end()) {
        save.references.push_back(name);
      }
    }
  }
  return WriteImageArchive(images, content_, sink);
}

}  // namespace kapsel::store
