#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/events_repo.h"
#include "store/image_store.h"
#include "store/registry_client.h"

// Pulling an image from an OCI distribution registry into the image store.
namespace kapsel::store {

struct PullOptions {
  RegistryOptions registry;
  int max_concurrent_downloads = 3;
};

struct PullRequest {
  std::string reference;  // as docker takes it: "busybox", "host:5000/app:1", "app@sha256:..."
  std::string platform;   // "os/arch[/variant]"; "" for this host's (linux/amd64 here)
  RegistryCredentials credentials;  // for the reference's registry; may be empty
};

// Progress of one layer blob.
struct PullProgress {
  enum class Stage {
    kExists,       // already in the content store: not fetched
    kDownloading,  // bytes_done of bytes_total arrived
    kDone,         // downloaded, digest verified, stored
  };
  std::string layer;  // the blob's digest
  Stage stage = Stage::kDownloading;
  int64_t bytes_done = 0;   // bytes
  int64_t bytes_total = 0;  // bytes, from the manifest
};

struct PullResult {
  ImageRecord image;
  std::string reference;        // the full reference pulled: "docker.io/library/busybox:latest"
  std::string manifest_digest;  // of the image manifest (not of an index)
  std::string platform;         // the platform asked for, "linux/amd64"
};

// Pulls `request.reference`: resolves the manifest (an index or manifest list picks the
// platform's manifest, see ChoosePlatformManifest), stores manifest and config, downloads the
// layers the content store lacks, up to options.max_concurrent_downloads at a time, each
// verified against its digest while it streams in, and commits the image through
// ImageStore::CommitPulledImage, tagged with the reference's familiar name and tag
// ("busybox:latest", "127.0.0.1:5000/app:1"; untagged when pulled by digest only).
//
// Progress is reported per layer through `progress`, called from several threads but never
// concurrently. `cancelled` is polled while transfers run. Events stored are appended to *events.
//
// A pull that fails because the registry sent wrong content (a digest mismatch: DataLoss naming
// the blob; a malformed manifest or config: InvalidArgument) removes every blob it stored. A pull
// that fails otherwise (network, registry errors, cancellation, a crash of the daemon) keeps the
// blobs it already verified, so pulling again fetches only what is missing: every blob is leased
// (ImageStore::LeaseBlobs) before anything is fetched, and the garbage collector keeps leased
// blobs, also across daemon restarts, until the pull commits or the lease expires (24 h).
// NotFound naming the reference for an unknown manifest; Unauthenticated or PermissionDenied with
// the registry's message when it refuses access.
absl::StatusOr<PullResult> PullImage(ImageStore& store, const PullOptions& options,
                                     const PullRequest& request,
                                     const std::function<void(const PullProgress&)>& progress,
                                     const std::function<bool()>& cancelled,
                                     std::vector<EventRecord>* events = nullptr);

}  // namespace kapsel::store
