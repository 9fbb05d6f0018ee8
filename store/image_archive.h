#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "store/content_store.h"

// Image archives as other engines write them: an OCI image layout in a tar (oci-layout,
// index.json, blobs/sha256/...; skopeo, podman, buildah, docker >= 25) and a `docker save`
// archive (manifest.json with RepoTags, <id>.json configs and layer tars, also in the legacy
// <id>/layer.tar form). Reading stores the blobs in the content store; writing produces an OCI
// layout tar. Neither touches SQLite: committing images is ImageStore's job.
namespace kapsel::store {

// One image found in an archive. Its config, manifest and layer blobs are in the content store.
struct ArchiveImage {
  std::string config_digest;             // sha256:<hex>, the image id
  std::string config_json;               // the config blob's bytes, verbatim
  std::string manifest_digest;           // the OCI manifest's blob; "" for a docker archive
  std::vector<std::string> layer_blobs;  // digests of the layer blobs, bottom first
  std::vector<std::string> references;   // as the archive names them, e.g. "app:1"; may be empty
};

// Reads the archive at `path` (a tar, optionally compressed) in one pass. Every file under
// blobs/sha256/ is stored in `content` and verified against its name; docker's layer tars and
// configs are stored under the digest they hash to, and a config named <hex>.json must hash to
// <hex>. Index, manifests and configs are then cross-checked: every blob they name must be
// present with the size its descriptor gives, and the layer count must match the config's
// rootfs.diff_ids (the diff ids themselves are checked by the caller, which unpacks the layers).
// From an image index, the manifest for this host's linux platform is taken.
//
// Appends to *written each digest it stored that was not in `content` before, whether it
// succeeds or fails, so the caller can remove those no row ends up referencing.
// InvalidArgument naming the entry or digest for a malformed, incomplete or mismatching archive.
absl::StatusOr<std::vector<ArchiveImage>> ReadImageArchive(const std::string& path,
                                                           ContentStore& content,
                                                           std::vector<std::string>* written);

// What SaveImageArchive writes for one image.
struct SaveImage {
  std::string config_digest;
  std::string manifest_digest;           // a stored manifest to write verbatim, or "" to make one
  std::vector<std::string> layer_blobs;  // bottom first
  std::vector<std::string> references;   // "name:tag" annotations; empty for an untagged image
};

// Receives the archive bytes in order.
using ArchiveSink = std::function<absl::Status(absl::string_view bytes)>;

// Writes an OCI image layout tar of `images` to `sink`: oci-layout, index.json with one
// manifest descriptor per reference (org.opencontainers.image.ref.name = "name:tag"), each blob
// once under blobs/sha256/, and a docker-style manifest.json so `docker load` takes it too.
// Blob files are opened before the first byte is written, so a concurrent removal of the image
// cannot cut the archive short. Layer media types follow the blob's compression.
absl::Status WriteImageArchive(const std::vector<SaveImage>& images, const ContentStore& content,
                               const ArchiveSink& sink);

}  // namespace kapsel::store
