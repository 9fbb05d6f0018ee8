#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "store/content_store.h"
#include "store/database.h"

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

  // "name[:tag]", "sha256:<hex>", or a hex id prefix (>= 4 chars). NotFound
  // `no such image: <ref>`; InvalidArgument when an id prefix is ambiguous.
  absl::StatusOr<ImageRecord> Resolve(const std::string& ref);

  // Newest first.
  absl::StatusOr<std::vector<ImageRecord>> List();

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

  Database* db_;
  std::string data_root_;
  std::string layers_root_;
  ContentStore content_;
  absl::Mutex import_mu_;
  absl::Mutex busybox_mu_ ABSL_ACQUIRED_BEFORE(import_mu_);
};

}  // namespace kapsel::store
