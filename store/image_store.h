#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "store/content_store.h"
#include "store/database.h"
#include "store/events_repo.h"
#include "store/image_archive.h"

namespace kapsel::store {

struct ImageRecord {
  std::string id;                      // sha256:<hex> of the config blob
  std::vector<std::string> tags;       // "name:tag"
  nlohmann::json config;               // the whole OCI image config JSON
  std::vector<std::string> chain_ids;  // bottom layer first
  int64_t created_at = 0;              // unix nanoseconds
  int64_t size_bytes = 0;              // bytes of unpacked layers
};

// Images, their layers and tags: rows in `db`, blobs in `<data_root>/blobs`, unpacked layers in
// `<data_root>/layers/<hex of chain id>/`. Does not own `db`. Thread-safe: imports are
// serialized by an internal mutex; reads go straight to the database.
class ImageStore {
 public:
  // Creates blobs/ and layers/ under data_root as needed (errors surface on first use).
  ImageStore(Database* db, std::string data_root);

  // Imports a rootfs tarball already on disk (any compression) as a one-layer image tagged
  // `reference` ("name[:tag]", tag defaults to latest). `changes` are Dockerfile-style lines
  // (see ApplyChanges). Rows for the layer, image and tag and an "import" event are written in
  // one transaction; on any failure nothing is left behind (no row, no unreferenced blob, no
  // layer directory). InvalidArgument for a bad reference, change or non-tar input; NotFound
  // naming a missing file. Fills *event_sequence with the event's sequence when given.
  absl::StatusOr<ImageRecord> ImportRootfsTarball(const std::string& tar_path,
                                                  const std::string& reference,
                                                  const std::vector<std::string>& changes,
                                                  uint64_t* event_sequence = nullptr);

  // Loads every image of an OCI image layout tar or a `docker save` archive at `archive_path`
  // (see image_archive.h), with all of their tags. Each blob is verified by digest, each layer's
  // diff id against the config's rootfs.diff_ids; new layers are unpacked once into
  // layers/<chain id>/ with whiteouts in overlayfs form. Rows for all images, layers and tags
  // and a "load" event per image are written in one transaction; on any failure nothing is left
  // behind. InvalidArgument naming what is malformed or does not match. Returns the images with
  // the tags the archive gave them (not others they already had). Appends the events it stored
  // to *events when given (for the daemon to publish).
  absl::StatusOr<std::vector<ImageRecord>> LoadArchive(const std::string& archive_path,
                                                       std::vector<EventRecord>* events = nullptr);

  // Commits an image that a pull (image_pull.h) stored in the content store: its manifest,
  // config and layer blobs, with `image.references` as its tags ("name:tag", may be empty).
  // Checked and committed exactly like one image of LoadArchive (diff ids verified, new layers
  // unpacked, rows and a "pull" event with the attribute reference=`remote_reference` in one
  // transaction). `written` lists the blobs the pull stored; afterwards those no row references
  // are removed, so a failure leaves nothing behind. Aborted when a blob the pull found in the
  // store was removed in the meantime (by a removal or a failed pull): pulling again fetches it.
  // `lease_id` (from LeaseBlobs, may be "") is released in the commit's transaction, together
  // with the leases that dead pulls hold on the image's blobs.
  absl::StatusOr<ImageRecord> CommitPulledImage(ArchiveImage image,
                                                const std::vector<std::string>& written,
                                                const std::string& remote_reference,
                                                const std::string& lease_id = "",
                                                std::vector<EventRecord>* events = nullptr);

  // Removes those of `digests` that no row references: what a failed pull stored.
  void DiscardBlobs(const std::vector<std::string>& digests);

  // How long a lease of a pull that never committed protects its blobs: across daemon restarts
  // until then; Recover and Prune delete older leases and the blobs nothing else references.
  static constexpr int64_t kLeaseLifetimeNanos = 24LL * 3600 * 1000 * 1000 * 1000;

  // Pull leases. A pull takes one on every blob it is about to fetch or use, committed before it
  // fetches anything: while a lease row names a blob no garbage collection (rmi, prune, the
  // startup sweep) removes it, so the blobs a crashed pull verified survive a daemon restart and
  // the next pull does not fetch them again. Returns the lease's id; the pull counts as running
  // until EndLease.
  absl::StatusOr<std::string> LeaseBlobs(const std::vector<std::string>& digests);
  // The pull holding `lease_id` ended without a commit. `release`: delete its rows now (the pull
  // got wrong content and discards what it stored); otherwise they stay, for a later pull,
  // until they expire.
  absl::Status EndLease(const std::string& lease_id, bool release);

  // Writes `refs` (as Resolve takes them) as an OCI image layout tar to `sink` (see
  // WriteImageArchive). A reference by tag is saved under that tag, one by id under all of the
  // image's tags. A manifest stored by LoadArchive is written back verbatim, so save then load
  // keeps every digest. Images cannot be removed while a save runs.
  absl::Status Save(const std::vector<std::string>& refs,
                    const std::function<absl::Status(absl::string_view)>& sink);

  // Points `target` ("name[:tag]") at the image `source` resolves to, moving it from another
  // image if it had one. Writes a "tag" event.
  absl::StatusOr<ImageRecord> Tag(const std::string& source, const std::string& target,
                                  std::vector<EventRecord>* events = nullptr);

  struct RemoveResult {
    std::vector<std::string> untagged;  // "name:tag"
    std::vector<std::string> deleted;   // image ids
    int64_t reclaimed_bytes = 0;        // bytes of layers and blobs freed
  };
  // Like `docker rmi`: a tag of an image with several tags is only untagged; otherwise the image
  // is untagged and deleted, with the layers and blobs no other image references. Refused
  // (FailedPrecondition) while a container of any state uses the image, and for an id of an
  // image with several tags, unless `force`: then the image loses its tags and, if a container
  // still uses it, stays as an untagged image until that container is gone and it is pruned.
  absl::StatusOr<RemoveResult> Remove(const std::string& ref, bool force,
                                      std::vector<EventRecord>* events = nullptr);

  // Deletes the untagged images (every image when `all`) that no container uses and the expired
  // pull leases, then the layers and blobs nothing references any more.
  absl::StatusOr<RemoveResult> Prune(bool all, std::vector<EventRecord>* events = nullptr);

  // Startup sweep after a crash: layer rows no image uses, layer directories without a row
  // (interrupted unpacks), expired pull leases, blobs no row or lease references and staging
  // files are removed. Call before serving requests: it assumes no import, load or pull is
  // running.
  absl::Status Recover();

  // Held shared by whoever makes a container from an image, from Resolve until the container's
  // row is committed; Remove and Prune hold it exclusively, so an image cannot vanish under a
  // container being created.
  absl::Mutex& use_mu() { return use_mu_; }

  // "name[:tag]", "sha256:<hex>", or a hex id prefix (>= 4 chars). NotFound
  // `no such image: <ref>`; InvalidArgument when an id prefix is ambiguous.
  absl::StatusOr<ImageRecord> Resolve(const std::string& ref);

  // Newest first.
  absl::StatusOr<std::vector<ImageRecord>> List();
  // Bytes of all unpacked layers, each counted once however many images share it.
  absl::StatusOr<int64_t> LayerBytes();

  // Absolute dirs of the unpacked layers, TOP layer first (overlayfs lowerdir order).
  std::vector<std::string> LowerDirs(const ImageRecord& image) const;

  // Returns the image tagged busybox:latest, building and importing it first when there is
  // none: a rootfs with the static busybox at busybox_path as /bin/busybox and a /bin/<applet>
  // symlink for each applet it lists (see busybox_rootfs.h), Cmd ["sh"] and a default PATH.
  // NotFound naming busybox_path if it is missing.
  absl::StatusOr<ImageRecord> EnsureBusybox(const std::string& busybox_path);

  // `<data_root>/layers/<hex>` for a chain id "sha256:<hex>".
  std::string LayerDir(const std::string& chain_id) const;

  ContentStore& content() { return content_; }

 private:
  absl::StatusOr<ImageRecord> Load(const std::string& id);
  absl::StatusOr<std::vector<std::string>> MatchIds(absl::string_view where,
                                                    const std::string& arg);
  absl::StatusOr<ImageRecord> ImportLocked(const std::string& tar_path,
                                           const std::string& reference,
                                           const std::vector<std::string>& changes,
                                           uint64_t* event_sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);

  // Unpacks the layer blob into LayerDir(chain_id) unless a layer row and its directory exist;
  // returns its unpacked size in bytes. Sets *created when it made the directory.
  absl::StatusOr<int64_t> EnsureLayerDir(const std::string& chain_id, const std::string& blob_path,
                                         bool* created) ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);
  // Removes each blob that no row references and each layer dir without a layer row; used to
  // undo what a failed import or load wrote, and after a removal.
  void CollectGarbage(const std::vector<std::string>& blobs,
                      const std::vector<std::string>& chain_ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);
  // True when a row still needs the blob: a layer's tarball, an image's config or manifest, a
  // pull lease (expired or not: Recover and Prune delete the expired ones first).
  absl::StatusOr<bool> BlobReferenced(const std::string& digest);
  absl::StatusOr<bool> LayerRowExists(const std::string& chain_id);
  absl::StatusOr<std::vector<ImageRecord>> LoadLocked(const std::string& archive_path,
                                                      std::vector<EventRecord>* events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);
  // The commit shared by LoadLocked and CommitPulledImage: verifies each image's layers
  // against its config's diff ids, unpacks new layers (appending their chain ids to
  // *created_layers), then writes the rows, tags and one `event_type` event per image (with
  // `attributes` and references=<its tags>) in one transaction.
  absl::StatusOr<std::vector<ImageRecord>> CommitImagesLocked(
      std::vector<ArchiveImage> found, const std::string& event_type,
      const std::map<std::string, std::string>& attributes,
      std::vector<std::string>* created_layers, std::vector<EventRecord>* events,
      const std::function<absl::Status()>& also_in_transaction = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);
  // Inside a transaction: deletes the rows of `lease_id` and those of leases held by no running
  // pull on `digests`.
  absl::Status ReleaseLeaseRows(const std::string& lease_id,
                                const std::vector<std::string>& digests);
  // What a removal freed: rows are gone, files are removed after the commit by FreeStorage.
  struct Freed {
    std::vector<std::string> chain_ids;
    std::vector<std::string> blobs;
    int64_t layer_bytes = 0;
  };
  // Inside a transaction: deletes the row of the untagged image `id` (with its "delete" event),
  // then every layer row no image uses.
  absl::Status DeleteImageRows(const std::string& id, Freed* freed,
                               std::vector<EventRecord>* events);
  absl::Status DeleteUnusedLayerRows(Freed* freed);
  // Inside a transaction: deletes the leases older than kLeaseLifetimeNanos, appending the
  // blobs they named to *freed.
  absl::Status DeleteExpiredLeases(Freed* freed);
  // Removes the directories and the unreferenced blobs `freed` names; returns the bytes freed.
  int64_t FreeStorage(const Freed& freed) ABSL_EXCLUSIVE_LOCKS_REQUIRED(import_mu_);

  Database* db_;
  std::string data_root_;
  std::string layers_root_;
  ContentStore content_;
  absl::Mutex use_mu_ ABSL_ACQUIRED_BEFORE(busybox_mu_);
  absl::Mutex import_mu_;
  absl::Mutex busybox_mu_ ABSL_ACQUIRED_BEFORE(import_mu_);
  absl::Mutex lease_mu_;
  std::set<std::string> live_leases_ ABSL_GUARDED_BY(lease_mu_);  // of the pulls running now
  int64_t lease_counter_ ABSL_GUARDED_BY(lease_mu_) = 0;
};

}  // namespace kapsel::store
