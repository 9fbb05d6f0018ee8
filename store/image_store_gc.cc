// ImageStore::Tag, Remove, Prune and Recover: the image lifecycle and its garbage collection.
//
// Reference counts are not stored as counters but derived from rows: a layer is in use while an
// image_layers row names it, a blob while a layers, images or manifest column names it, an image
// while a tag or a container row names it. Rows change only in transactions, so after any crash
// the counts are exactly what the committed rows say. Files are removed after the commit that
// freed them; a crash in between leaves files without rows, which Recover sweeps at startup.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"
#include "store/digest.h"
#include "store/fs_util.h"
#include "store/image_config.h"
#include "store/image_store.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;

absl::Status RemoveTag(Database* db, const ImageReference& ref) {
  absl::StatusOr<Statement> stmt = db->Prepare("DELETE FROM image_tags WHERE name = ? AND tag = ?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, ref.name).Bind(2, ref.tag).Run();
}

absl::Status AppendEvent(Database* db, const std::string& type, const std::string& image_id,
                         const std::string& reference, std::vector<EventRecord>* events) {
  EventRecord event;
  event.type = type;
  event.image_id = image_id;
  if (!reference.empty()) event.attributes["reference"] = reference;
  absl::StatusOr<uint64_t> sequence = EventRepo(db).Append(event);
  if (!sequence.ok()) return sequence.status();
  events->push_back(std::move(event));
  return absl::OkStatus();
}

// Removes every tag of image `id`, with an "untag" event each; appends them to *untagged.
absl::Status UntagAll(Database* db, const std::string& id, std::vector<std::string>* untagged,
                      std::vector<EventRecord>* events) {
  absl::StatusOr<std::vector<std::string>> tags = QueryColumn(
      db, "SELECT name || ':' || tag FROM image_tags WHERE image_id = ? ORDER BY name, tag", &id);
  if (!tags.ok()) return tags.status();
  absl::StatusOr<Statement> stmt = db->Prepare("DELETE FROM image_tags WHERE image_id = ?");
  if (!stmt.ok()) return stmt.status();
  absl::Status status = stmt->Bind(1, id).Run();
  if (!status.ok()) return status;
  for (const std::string& tag : *tags) {
    status = AppendEvent(db, "untag", id, tag, events);
    if (!status.ok()) return status;
    untagged->push_back(tag);
  }
  return absl::OkStatus();
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

}  // namespace

absl::StatusOr<std::string> ImageStore::LeaseBlobs(const std::vector<std::string>& digests) {
  std::string lease_id;
  {
    absl::MutexLock lock(&lease_mu_);
    // Unique across restarts: the start time of the lease and a counter of this run.
    lease_id = absl::StrCat(NowNanos(), "-", ++lease_counter_);
    live_leases_.insert(lease_id);
  }
  const int64_t now = NowNanos();
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    for (const std::string& digest : digests) {
      absl::StatusOr<Statement> stmt = db_->Prepare(
          "INSERT INTO blob_leases (lease_id, digest, created_at) VALUES (?, ?, ?)"
          " ON CONFLICT (lease_id, digest) DO NOTHING");
      if (!stmt.ok()) return stmt.status();
      absl::Status s = stmt->Bind(1, lease_id).Bind(2, digest).Bind(3, now).Run();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    absl::MutexLock lock(&lease_mu_);
    live_leases_.erase(lease_id);
    return status;
  }
  return lease_id;
}

absl::Status ImageStore::EndLease(const std::string& lease_id, bool release) {
  {
    absl::MutexLock lock(&lease_mu_);
    live_leases_.erase(lease_id);
  }
  if (!release) return absl::OkStatus();
  absl::StatusOr<Statement> stmt = db_->Prepare("DELETE FROM blob_leases WHERE lease_id = ?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, lease_id).Run();
}

absl::Status ImageStore::ReleaseLeaseRows(const std::string& lease_id,
                                          const std::vector<std::string>& digests) {
  absl::StatusOr<Statement> stmt = db_->Prepare("DELETE FROM blob_leases WHERE lease_id = ?");
  if (!stmt.ok()) return stmt.status();
  absl::Status status = stmt->Bind(1, lease_id).Run();
  if (!status.ok()) return status;
  // Leases of pulls that ended without a commit (in this run or before a restart) are no longer
  // needed for blobs a committed image now references.
  std::set<std::string> live;
  {
    absl::MutexLock lock(&lease_mu_);
    live = live_leases_;
  }
  for (const std::string& digest : digests) {
    absl::StatusOr<std::vector<std::string>> holders =
        QueryColumn(db_, "SELECT lease_id FROM blob_leases WHERE digest = ?", &digest);
    if (!holders.ok()) return holders.status();
    for (const std::string& holder : *holders) {
      if (live.count(holder) != 0) continue;
      stmt = db_->Prepare("DELETE FROM blob_leases WHERE lease_id = ? AND digest = ?");
      if (!stmt.ok()) return stmt.status();
      status = stmt->Bind(1, holder).Bind(2, digest).Run();
      if (!status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

absl::Status ImageStore::DeleteExpiredLeases(Freed* freed) {
  const int64_t cutoff = NowNanos() - kLeaseLifetimeNanos;
  absl::StatusOr<Statement> stmt =
      db_->Prepare("SELECT DISTINCT digest FROM blob_leases WHERE created_at < ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, cutoff);
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    freed->blobs.push_back(stmt->ColumnText(0));
  }
  stmt = db_->Prepare("DELETE FROM blob_leases WHERE created_at < ?");
  if (!stmt.ok()) return stmt.status();
  return stmt->Bind(1, cutoff).Run();
}

absl::Status ImageStore::DeleteUnusedLayerRows(Freed* freed) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "SELECT chain_id, blob_digest, size_bytes FROM layers"
      " WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)");
  if (!stmt.ok()) return stmt.status();
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    freed->chain_ids.push_back(stmt->ColumnText(0));
    freed->blobs.push_back(stmt->ColumnText(1));
    freed->layer_bytes += stmt->ColumnInt64(2);
  }
  stmt =
      db_->Prepare("DELETE FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)");
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

absl::Status ImageStore::DeleteImageRows(const std::string& id, Freed* freed,
                                         std::vector<EventRecord>* events) {
  absl::StatusOr<std::vector<std::string>> manifest =
      QueryColumn(db_, "SELECT manifest_digest FROM images WHERE id = ?", &id);
  if (!manifest.ok()) return manifest.status();
  // image_layers rows go with the image (ON DELETE CASCADE).
  absl::StatusOr<Statement> stmt = db_->Prepare("DELETE FROM images WHERE id = ?");
  if (!stmt.ok()) return stmt.status();
  absl::Status status = stmt->Bind(1, id).Run();
  if (!status.ok()) return status;
  freed->blobs.push_back(id);
  for (const std::string& digest : *manifest) {
    if (!digest.empty()) freed->blobs.push_back(digest);
  }
  status = AppendEvent(db_, "delete", id, "", events);
  if (!status.ok()) return status;
  return DeleteUnusedLayerRows(freed);
}

int64_t ImageStore::FreeStorage(const Freed& freed) {
  int64_t bytes = freed.layer_bytes;
  for (const std::string& chain_id : freed.chain_ids) {
    absl::StatusOr<bool> used = LayerRowExists(chain_id);
    if (!used.ok() || *used) continue;
    absl::Status status = RemoveTree(LayerDir(chain_id));
    if (!status.ok()) spdlog::warn("image gc: {}", status.ToString());
  }
  std::set<std::string> seen;
  for (const std::string& digest : freed.blobs) {
    if (!seen.insert(digest).second) continue;
    absl::StatusOr<bool> used = BlobReferenced(digest);
    if (!used.ok() || *used) continue;
    int64_t size = FileSize(content_.PathOf(digest));
    absl::Status status = content_.Delete(digest);
    if (!status.ok()) {
      spdlog::warn("image gc: {}", status.ToString());
      continue;
    }
    bytes += size;
  }
  return bytes;
}

absl::StatusOr<ImageRecord> ImageStore::Tag(const std::string& source, const std::string& target,
                                            std::vector<EventRecord>* events) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(target);
  if (!ref.ok()) return ref.status();
  absl::MutexLock lock(&import_mu_);
  absl::StatusOr<ImageRecord> image = Resolve(source);
  if (!image.ok()) return image.status();
  std::vector<EventRecord> appended;
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    appended.clear();
    absl::StatusOr<Statement> stmt = db_->Prepare(
        "INSERT INTO image_tags (name, tag, image_id) VALUES (?, ?, ?)"
        " ON CONFLICT (name, tag) DO UPDATE SET image_id = excluded.image_id");
    if (!stmt.ok()) return stmt.status();
    absl::Status s = stmt->Bind(1, ref->name).Bind(2, ref->tag).Bind(3, image->id).Run();
    if (!s.ok()) return s;
    return AppendEvent(db_, "tag", image->id, ref->ToString(), &appended);
  });
  if (!status.ok()) return status;
  if (events != nullptr) events->insert(events->end(), appended.begin(), appended.end());
  return Load(image->id);
}

absl::StatusOr<ImageStore::RemoveResult> ImageStore::Remove(const std::string& ref, bool force,
                                                            std::vector<EventRecord>* events) {
  absl::WriterMutexLock use(&use_mu_);
  absl::MutexLock lock(&import_mu_);
  absl::StatusOr<ImageRecord> image = Resolve(ref);
  if (!image.ok()) return image.status();
  absl::StatusOr<ImageReference> parsed = ParseImageReference(ref);
  const bool by_tag = parsed.ok() && std::find(image->tags.begin(), image->tags.end(),
                                               parsed->ToString()) != image->tags.end();
  const std::string short_id = image->id.substr(7, 12);

  RemoveResult result;
  Freed freed;
  std::vector<EventRecord> appended;
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    result = RemoveResult();
    freed = Freed();
    appended.clear();
    if (by_tag && image->tags.size() > 1) {
      absl::Status s = RemoveTag(db_, *parsed);
      if (!s.ok()) return s;
      result.untagged.push_back(parsed->ToString());
      return AppendEvent(db_, "untag", image->id, parsed->ToString(), &appended);
    }
    if (!by_tag && image->tags.size() > 1 && !force) {
      return absl::FailedPreconditionError(
          absl::StrCat("unable to delete ", short_id,
                       " (must be forced): image is referenced in multiple repositories"));
    }
    // Containers of any state count: a stopped one can be started again.
    absl::StatusOr<std::vector<std::string>> users = QueryColumn(
        db_,
        "SELECT substr(id, 1, 12) || ' (' || name || ', ' || state || ')' FROM containers"
        " WHERE image_id = ? ORDER BY created_at LIMIT 1",
        &image->id);
    if (!users.ok()) return users.status();
    if (!users->empty() && !force) {
      return absl::FailedPreconditionError(absl::StrCat("unable to remove image ", ref,
                                                        " (must be forced): container ",
                                                        (*users)[0], " uses it"));
    }
    const bool keep = !users->empty();
    absl::Status s = UntagAll(db_, image->id, &result.untagged, &appended);
    if (!s.ok()) return s;
    // A container still needs the layers: the image stays, untagged, until it is pruned.
    if (keep) return absl::OkStatus();
    s = DeleteImageRows(image->id, &freed, &appended);
    if (!s.ok()) return s;
    result.deleted.push_back(image->id);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (events != nullptr) events->insert(events->end(), appended.begin(), appended.end());
  result.reclaimed_bytes = FreeStorage(freed);
  return result;
}

absl::StatusOr<ImageStore::RemoveResult> ImageStore::Prune(bool all,
                                                           std::vector<EventRecord>* events) {
  absl::WriterMutexLock use(&use_mu_);
  absl::MutexLock lock(&import_mu_);
  RemoveResult result;
  Freed freed;
  std::vector<EventRecord> appended;
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    result = RemoveResult();
    freed = Freed();
    appended.clear();
    absl::StatusOr<std::vector<std::string>> ids = QueryColumn(
        db_, absl::StrCat(
                 "SELECT id FROM images i"
                 " WHERE NOT EXISTS (SELECT 1 FROM containers c WHERE c.image_id = i.id)",
                 all ? "" : " AND NOT EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = i.id)",
                 " ORDER BY created_at"));
    if (!ids.ok()) return ids.status();
    for (const std::string& id : *ids) {
      absl::Status s = UntagAll(db_, id, &result.untagged, &appended);
      if (!s.ok()) return s;
      s = DeleteImageRows(id, &freed, &appended);
      if (!s.ok()) return s;
      result.deleted.push_back(id);
    }
    absl::Status s = DeleteExpiredLeases(&freed);
    if (!s.ok()) return s;
    return DeleteUnusedLayerRows(&freed);
  });
  if (!status.ok()) return status;
  if (events != nullptr) events->insert(events->end(), appended.begin(), appended.end());
  result.reclaimed_bytes = FreeStorage(freed);
  return result;
}

absl::Status ImageStore::Recover() {
  absl::MutexLock lock(&import_mu_);
  for (const std::string& dir : {content_.root(), layers_root_}) {
    absl::Status status = MkdirAll(dir, 0700);
    if (!status.ok()) return status;
  }
  Freed freed;
  absl::Status status = db_->InTransaction([&]() -> absl::Status {
    freed = Freed();
    absl::Status s = DeleteExpiredLeases(&freed);
    if (!s.ok()) return s;
    return DeleteUnusedLayerRows(&freed);
  });
  if (!status.ok()) return status;
  int64_t bytes = FreeStorage(freed);

  // Layer directories without a row: unpacks that a crash interrupted (".tmp-*") or whose
  // commit never happened, and layers whose rows a removal deleted before the crash.
  int removed_dirs = 0;
  {
    UniqueFd dir(open(layers_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return absl::ErrnoToStatus(errno, absl::StrCat("open ", layers_root_));
    absl::StatusOr<std::vector<std::string>> names = ListDirAt(dir.get(), layers_root_);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      std::string chain_id = absl::StrCat("sha256:", name);
      if (ValidateDigest(chain_id).ok()) {
        absl::StatusOr<bool> used = LayerRowExists(chain_id);
        if (!used.ok()) return used.status();
        if (*used) continue;
      }
      status = RemoveEntryAt(dir.get(), name, absl::StrCat(layers_root_, "/", name));
      if (!status.ok()) return status;
      ++removed_dirs;
    }
  }
  // Blobs no row references: stored by an import, load or pull that did not commit.
  int removed_blobs = 0;
  for (const char* sub : {"/sha256", "/ingest"}) {
    std::string path = absl::StrCat(content_.root(), sub);
    UniqueFd dir(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
      if (errno == ENOENT) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    }
    absl::StatusOr<std::vector<std::string>> names = ListDirAt(dir.get(), path);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      std::string digest = absl::StrCat("sha256:", name);
      if (std::string(sub) == "/sha256" && ValidateDigest(digest).ok()) {
        absl::StatusOr<bool> used = BlobReferenced(digest);
        if (!used.ok()) return used.status();
        if (*used) continue;
      }
      bytes += FileSize(absl::StrCat(path, "/", name));
      status = RemoveEntryAt(dir.get(), name, absl::StrCat(path, "/", name));
      if (!status.ok()) return status;
      ++removed_blobs;
    }
  }
  if (removed_dirs + removed_blobs > 0 || !freed.chain_ids.empty()) {
    spdlog::info("image store: swept {} layer rows, {} layer dirs, {} blobs ({} bytes)",
                 freed.chain_ids.size(), removed_dirs, removed_blobs, bytes);
  }
  absl::StatusOr<std::vector<std::string>> leased =
      QueryColumn(db_, "SELECT COUNT(DISTINCT digest) FROM blob_leases");
  if (leased.ok() && !leased->empty() && (*leased)[0] != "0") {
    spdlog::info("image store: kept {} blob digests leased by interrupted pulls", (*leased)[0]);
  }
  return absl::OkStatus();
}

}  // namespace kapsel::store
