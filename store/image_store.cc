#include "store/image_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"
#include "store/busybox_rootfs.h"
#include "store/digest.h"
#include "store/events_repo.h"
#include "store/fs_util.h"
#include "store/image_config.h"
#include "store/layer_unpack.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;

constexpr size_t kMinIdPrefix = 4;
constexpr char kBusyboxReference[] = "busybox:latest";

int64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

absl::Status NoSuchImage(absl::string_view ref) {
  return absl::NotFoundError(absl::StrCat("no such image: ", ref));
}

// Prefixes a status message with what was being done, keeping the code.
absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

bool IsDir(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

ImageStore::ImageStore(Database* db, std::string data_root)
    : db_(db),
      data_root_(std::move(data_root)),
      layers_root_(absl::StrCat(data_root_, "/layers")),
      content_(absl::StrCat(data_root_, "/blobs")) {
  for (const std::string& dir : {content_.root(), layers_root_}) {
    absl::Status status = MkdirAll(dir, 0700);
    if (!status.ok()) spdlog::warn("image store: {}", status.ToString());
  }
}

std::string ImageStore::LayerDir(const std::string& chain_id) const {
  absl::string_view hex = chain_id;
  absl::ConsumePrefix(&hex, "sha256:");
  return absl::StrCat(layers_root_, "/", hex);
}

std::vector<std::string> ImageStore::LowerDirs(const ImageRecord& image) const {
  std::vector<std::string> dirs;
  for (auto it = image.chain_ids.rbegin(); it != image.chain_ids.rend(); ++it) {
    dirs.push_back(LayerDir(*it));
  }
  return dirs;
}

absl::StatusOr<bool> ImageStore::LayerRowExists(const std::string& chain_id) {
  absl::StatusOr<Statement> stmt = db_->Prepare("SELECT 1 FROM layers WHERE chain_id = ?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, chain_id).Step();
}

absl::StatusOr<bool> ImageStore::BlobReferenced(const std::string& digest) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "SELECT EXISTS (SELECT 1 FROM layers WHERE blob_digest = ?1)"
      " OR EXISTS (SELECT 1 FROM images WHERE id = ?1 OR manifest_digest = ?1)"
      " OR EXISTS (SELECT 1 FROM blob_leases WHERE digest = ?1)");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, digest).Step();
  if (!row.ok()) return row.status();
  return *row && stmt->ColumnInt64(0) != 0;
}

void ImageStore::CollectGarbage(const std::vector<std::string>& blobs,
                                const std::vector<std::string>& chain_ids) {
  for (const std::string& digest : blobs) {
    absl::StatusOr<bool> used = BlobReferenced(digest);
    if (used.ok() && !*used) content_.Delete(digest).IgnoreError();
  }
  for (const std::string& chain_id : chain_ids) {
    absl::StatusOr<bool> used = LayerRowExists(chain_id);
    if (used.ok() && !*used) RemoveTree(LayerDir(chain_id)).IgnoreError();
  }
}

absl::StatusOr<int64_t> ImageStore::EnsureLayerDir(const std::string& chain_id,
                                                   const std::string& blob_path, bool* created) {
  *created = false;
  std::string layer_dir = LayerDir(chain_id);
  absl::StatusOr<bool> have_layer = LayerRowExists(chain_id);
  if (!have_layer.ok()) return have_layer.status();
  if (*have_layer && IsDir(layer_dir)) {
    absl::StatusOr<Statement> stmt =
        db_->Prepare("SELECT size_bytes FROM layers WHERE chain_id = ?");
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Bind(1, chain_id).Step();
    if (!row.ok()) return row.status();
    return *row ? stmt->ColumnInt64(0) : 0;
  }
  // A directory without a row is debris of an interrupted import.
  absl::Status status = RemoveTree(layer_dir);
  if (!status.ok()) return status;
  absl::StatusOr<std::string> tmp = MakeTempDir(layers_root_, ".tmp-");
  if (!tmp.ok()) return tmp.status();
  absl::Cleanup remove_tmp = [&tmp] { RemoveTree(*tmp).IgnoreError(); };
  // mkdtemp makes 0700; the layer root becomes the container's "/".
  if (chmod(tmp->c_str(), 0755) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("chmod ", *tmp));
  }
  status = UnpackLayer(blob_path, *tmp);
  if (!status.ok()) return status;
  absl::StatusOr<int64_t> size = TreeSize(*tmp);
  if (!size.ok()) return size.status();
  int raw = open(tmp->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", *tmp));
  UniqueFd tmp_fd(raw);
  // One syncfs instead of an fsync per file: the unpacked tree is complete on disk before
  // the rename publishes it.
  if (syncfs(tmp_fd.get()) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("syncfs ", *tmp));
  if (rename(tmp->c_str(), layer_dir.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", *tmp, " to ", layer_dir));
  }
  *created = true;
  status = FsyncDir(layers_root_);
  if (!status.ok()) return status;
  return *size;
}

absl::StatusOr<ImageRecord> ImageStore::ImportRootfsTarball(const std::string& tar_path,
                                                            const std::string& reference,
                                                            const std::vector<std::string>& changes,
                                                            uint64_t* event_sequence) {
  absl::MutexLock lock(&import_mu_);
  return ImportLocked(tar_path, reference, changes, event_sequence);
}

absl::StatusOr<ImageRecord> ImageStore::ImportLocked(const std::string& tar_path,
                                                     const std::string& reference,
                                                     const std::vector<std::string>& changes,
                                                     uint64_t* event_sequence) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(reference);
  if (!ref.ok()) return ref.status();
  nlohmann::json config = nlohmann::json::object();
  absl::Status status = ApplyChanges(changes, config);
  if (!status.ok()) return status;
  struct stat st;
  if (stat(tar_path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("import ", tar_path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("import ", tar_path, ": not a regular file"));
  }
  for (const std::string& dir : {content_.root(), layers_root_}) {
    status = MkdirAll(dir, 0700);
    if (!status.ok()) return status;
  }

  // Whatever happens below, a blob this import wrote that no row references is removed, and so
  // is a layer directory it created that no row references.
  std::vector<std::string> written_blobs;
  std::vector<std::string> created_layers;
  absl::Cleanup collect_garbage = [&] { CollectGarbage(written_blobs, created_layers); };

  absl::StatusOr<std::string> blob_digest = content_.PutFile(tar_path);
  if (!blob_digest.ok()) return Annotate(blob_digest.status(), absl::StrCat("import ", tar_path));
  written_blobs.push_back(*blob_digest);
  std::string blob_path = content_.PathOf(*blob_digest);

  absl::StatusOr<std::string> diff_id = DiffIdOf(blob_path);
  if (!diff_id.ok()) return Annotate(diff_id.status(), absl::StrCat("import ", tar_path));
  // One layer: its chain id is its diff id.
  std::string chain_id = *diff_id;
  bool created = false;
  absl::StatusOr<int64_t> layer_size = EnsureLayerDir(chain_id, blob_path, &created);
  if (created) created_layers.push_back(chain_id);
  if (!layer_size.ok()) return Annotate(layer_size.status(), absl::StrCat("import ", tar_path));

  ImageRecord image;
  image.created_at = NowNanos();
  image.config = MakeImageConfig(config, {*diff_id}, image.created_at);
  image.chain_ids = {chain_id};
  image.size_bytes = *layer_size;
  image.tags = {ref->ToString()};
  std::string config_json = image.config.dump();
  absl::StatusOr<std::string> image_id = content_.Put(config_json);
  if (!image_id.ok()) return image_id.status();
  written_blobs.push_back(*image_id);
  image.id = *image_id;

  status = db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> stmt = db_->Prepare(
        "INSERT INTO layers (chain_id, diff_id, blob_digest, size_bytes) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (chain_id) DO NOTHING");
    if (!stmt.ok()) return stmt.status();
    absl::Status s =
        stmt->Bind(1, chain_id).Bind(2, *diff_id).Bind(3, *blob_digest).Bind(4, *layer_size).Run();
    if (!s.ok()) return s;
    stmt = db_->Prepare(
        "INSERT INTO images (id, config_json, created_at, size_bytes) VALUES (?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    s = stmt->Bind(1, image.id)
            .Bind(2, config_json)
            .Bind(3, image.created_at)
            .Bind(4, image.size_bytes)
            .Run();
    if (!s.ok()) return s;
    stmt = db_->Prepare(
        "INSERT INTO image_layers (image_id, idx, diff_id, chain_id) VALUES (?, 0, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    s = stmt->Bind(1, image.id).Bind(2, *diff_id).Bind(3, chain_id).Run();
    if (!s.ok()) return s;
    // A tag names one image: importing under a taken tag moves it.
    stmt = db_->Prepare(
        "INSERT INTO image_tags (name, tag, image_id) VALUES (?, ?, ?)"
        " ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id");
    if (!stmt.ok()) return stmt.status();
    s = stmt->Bind(1, ref->name).Bind(2, ref->tag).Bind(3, image.id).Run();
    if (!s.ok()) return s;
    EventRecord event;
    event.type = "import";
    event.image_id = image.id;
    event.attributes["reference"] = ref->ToString();
    absl::StatusOr<uint64_t> sequence = EventRepo(db_).Append(event);
    if (!sequence.ok()) return sequence.status();
    if (event_sequence != nullptr) *event_sequence = *sequence;
    return absl::OkStatus();
  });
  if (!status.ok()) return Annotate(status, absl::StrCat("import ", tar_path));
  return image;
}

absl::StatusOr<std::vector<std::string>> ImageStore::MatchIds(absl::string_view where,
                                                              const std::string& arg) {
  return QueryColumn(db_, absl::StrCat("SELECT id FROM images WHERE ", where, " LIMIT 2"), &arg);
}

absl::StatusOr<ImageRecord> ImageStore::Load(const std::string& id) {
  ImageRecord image;
  image.id = id;
  {
    absl::StatusOr<Statement> stmt =
        db_->Prepare("SELECT config_json, created_at, size_bytes FROM images WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Bind(1, id).Step();
    if (!row.ok()) return row.status();
    if (!*row) return NoSuchImage(id);
    image.config = nlohmann::json::parse(stmt->ColumnText(0), nullptr, /*allow_exceptions=*/false);
    if (image.config.is_discarded()) {
      return absl::DataLossError(absl::StrCat("image ", id, ": stored config is not JSON"));
    }
    image.created_at = stmt->ColumnInt64(1);
    image.size_bytes = stmt->ColumnInt64(2);
  }
  auto tags = QueryColumn(
      db_, "SELECT name || ':' || tag FROM image_tags WHERE image_id = ? ORDER BY name, tag", &id);
  if (!tags.ok()) return tags.status();
  image.tags = *std::move(tags);
  auto chain_ids =
      QueryColumn(db_, "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY idx", &id);
  if (!chain_ids.ok()) return chain_ids.status();
  image.chain_ids = *std::move(chain_ids);
  return image;
}

absl::StatusOr<ImageRecord> ImageStore::Resolve(const std::string& ref) {
  absl::string_view hex = ref;
  bool digest_form = absl::ConsumePrefix(&hex, "sha256:");
  if (!digest_form) {
    absl::StatusOr<ImageReference> parsed = ParseImageReference(ref);
    if (parsed.ok()) {
      std::string id;
      {
        absl::StatusOr<Statement> stmt =
            db_->Prepare("SELECT image_id FROM image_tags WHERE name = ? AND tag = ?");
        if (!stmt.ok()) return stmt.status();
        absl::StatusOr<bool> row = stmt->Bind(1, parsed->name).Bind(2, parsed->tag).Step();
        if (!row.ok()) return row.status();
        if (*row) id = stmt->ColumnText(0);
      }
      if (!id.empty()) return Load(id);
    }
  }
  if (hex.size() < kMinIdPrefix || hex.size() > 64 || !IsLowerHex(hex)) return NoSuchImage(ref);
  // hex holds no LIKE wildcards.
  absl::StatusOr<std::vector<std::string>> ids =
      MatchIds("id LIKE ? || '%'", absl::StrCat("sha256:", hex));
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return NoSuchImage(ref);
  if (ids->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("image id prefix \"", ref, "\" is ambiguous"));
  }
  return Load((*ids)[0]);
}

absl::StatusOr<int64_t> ImageStore::LayerBytes() {
  auto total = QueryColumn(db_, "SELECT COALESCE(SUM(size_bytes), 0) FROM layers");
  if (!total.ok()) return total.status();
  int64_t bytes = 0;
  if (total->empty() || !absl::SimpleAtoi((*total)[0], &bytes)) {
    return absl::InternalError("sum of layer sizes: not a number");
  }
  return bytes;
}

absl::StatusOr<std::vector<ImageRecord>> ImageStore::List() {
  std::vector<std::string> ids;
  {
    absl::StatusOr<Statement> stmt =
        db_->Prepare("SELECT id FROM images ORDER BY created_at DESC, rowid DESC");
    if (!stmt.ok()) return stmt.status();
    while (true) {
      absl::StatusOr<bool> row = stmt->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      ids.push_back(stmt->ColumnText(0));
    }
  }
  std::vector<ImageRecord> images;
  for (const std::string& id : ids) {
    absl::StatusOr<ImageRecord> image = Load(id);
    // Removed between the two queries: skip it.
    if (absl::IsNotFound(image.status())) continue;
    if (!image.ok()) return image.status();
    images.push_back(*std::move(image));
  }
  return images;
}

absl::StatusOr<ImageRecord> ImageStore::EnsureBusybox(const std::string& busybox_path) {
  absl::MutexLock busybox_lock(&busybox_mu_);
  absl::StatusOr<ImageRecord> existing = Resolve(kBusyboxReference);
  if (existing.ok() || !absl::IsNotFound(existing.status())) return existing;

  struct stat st;
  if (stat(busybox_path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", busybox_path));
  }
  absl::StatusOr<std::vector<std::string>> applets = ListBusyboxApplets(busybox_path);
  if (!applets.ok()) return applets.status();

  absl::Status status = MkdirAll(data_root_, 0700);
  if (!status.ok()) return status;
  std::string tar_path = absl::StrCat(data_root_, "/.busybox-rootfs-XXXXXX");
  int raw = mkostemp(tar_path.data(), O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("mkostemp ", tar_path));
  close(raw);
  absl::Cleanup remove_tar = [&tar_path] { unlink(tar_path.c_str()); };
  status = WriteBusyboxRootfs(busybox_path, *applets, tar_path);
  if (!status.ok()) return status;
  return ImportRootfsTarball(
      tar_path, kBusyboxReference,
      {R"(CMD ["sh"])", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
}

}  // namespace kapsel::store
