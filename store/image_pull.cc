#include "store/image_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "spdlog/spdlog.h"
#include "store/content_store.h"
#include "store/digest.h"
#include "store/image_archive.h"
#include "store/image_config.h"
#include "store/image_reference.h"
#include "store/platform.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;
using ::nlohmann::json;

constexpr absl::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr absl::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr absl::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
constexpr absl::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr absl::string_view kDockerSchema1Prefix =
    "application/vnd.docker.distribution.manifest.v1";
constexpr absl::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr absl::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";

// Configs are read into memory: bounded, as for a load.
constexpr int64_t kMaxConfigBytes = 8 << 20;
// An index may name another index; this many levels are followed.
constexpr int kMaxIndexDepth = 3;
constexpr absl::Duration kProgressInterval = absl::Milliseconds(250);

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = -1;  // bytes; -1 when the descriptor gives none
};

absl::StatusOr<Descriptor> ParseDescriptor(const json& j, absl::string_view what) {
  if (!j.is_object() || !j.contains("digest") || !j["digest"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a descriptor without a digest"));
  }
  Descriptor d;
  d.digest = j["digest"].get<std::string>();
  if (!ValidateDigest(d.digest).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": unsupported digest \"", d.digest, "\" (only sha256 is)"));
  }
  d.media_type = j.value("mediaType", "");
  if (j.contains("size")) {
    if (!j["size"].is_number_integer() || j["size"].get<int64_t>() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": blob ", d.digest, " has a bad size"));
    }
    d.size = j["size"].get<int64_t>();
  }
  return d;
}

bool IsIndex(absl::string_view media_type, const json& parsed) {
  if (media_type == kOciIndex || media_type == kDockerManifestList) return true;
  // A registry that sends no useful Content-Type: judge by the document.
  return media_type != kOciManifest && media_type != kDockerManifest && parsed.is_object() &&
         parsed.contains("manifests") && !parsed.contains("layers");
}

class Puller {
 public:
  Puller(ImageStore& store, const PullOptions& options,
         const std::function<void(const PullProgress&)>& progress,
         const std::function<bool()>& cancelled)
      : store_(store), options_(options), progress_(progress), cancelled_(cancelled) {}

  absl::StatusOr<PullResult> Run(const PullRequest& request, std::vector<EventRecord>* events);

  std::vector<std::string> written() {
    absl::MutexLock lock(&mu_);
    return written_;
  }
  // The lease on this pull's blobs ("" before the manifest is known).
  const std::string& lease_id() const { return lease_id_; }

 private:
  // The image manifest for the platform, following an index or manifest list.
  absl::StatusOr<RegistryClient::Manifest> ResolveManifest(const DistributionReference& ref,
                                                           const Platform& platform,
                                                           bool* from_index);
  // Downloads blob `d` into the content store, verified by digest and size. Reports progress
  // when `report`.
  absl::Status Download(const Descriptor& d, int64_t limit, bool report);
  absl::Status DownloadLayers(const std::vector<Descriptor>& layers);
  void Report(const PullProgress& p) {
    if (!progress_) return;
    absl::MutexLock lock(&progress_mu_);
    progress_(p);
  }
  bool Cancelled() const { return cancelled_ && cancelled_(); }

  ImageStore& store_;
  const PullOptions& options_;
  const std::function<void(const PullProgress&)>& progress_;
  const std::function<bool()>& cancelled_;
  std::unique_ptr<RegistryClient> client_;
  std::string lease_id_;

  absl::Mutex progress_mu_;
  absl::Mutex mu_;
  std::vector<std::string> written_ ABSL_GUARDED_BY(mu_);  // blobs this pull stored
};

absl::StatusOr<RegistryClient::Manifest> Puller::ResolveManifest(const DistributionReference& ref,
                                                                 const Platform& platform,
                                                                 bool* from_index) {
  *from_index = false;
  absl::StatusOr<RegistryClient::Manifest> manifest = client_->GetManifest(ref.ManifestReference());
  for (int depth = 0; manifest.ok(); ++depth) {
    json parsed = json::parse(manifest->bytes, nullptr, /*allow_exceptions=*/false);
    if (!IsIndex(manifest->media_type, parsed)) break;
    std::string what = absl::StrCat("image index ", manifest->digest, " of ", ref.ToString());
    if (depth >= kMaxIndexDepth) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": indexes nest too deep"));
    }
    if (!parsed.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, ": not JSON"));
    absl::StatusOr<json> chosen = ChoosePlatformManifest(parsed, platform);
    if (!chosen.ok()) {
      return absl::Status(chosen.status().code(),
                          absl::StrCat(ref.ToString(), ": ", chosen.status().message()));
    }
    absl::StatusOr<Descriptor> d = ParseDescriptor(*chosen, what);
    if (!d.ok()) return d.status();
    *from_index = true;
    manifest = client_->GetManifest(d->digest);
    if (manifest.ok() && d->size >= 0 && static_cast<int64_t>(manifest->bytes.size()) != d->size) {
      return absl::DataLossError(absl::StrCat("manifest ", d->digest, ": ", manifest->bytes.size(),
                                              " bytes, the index says ", d->size));
    }
  }
  return manifest;
}

absl::Status Puller::Download(const Descriptor& d, int64_t limit, bool report) {
  if (Cancelled()) return absl::CancelledError("the pull was cancelled");
  absl::StatusOr<std::unique_ptr<ContentStore::Writer>> writer = store_.content().NewWriter();
  if (!writer.ok()) return writer.status();
  ContentStore::Writer& w = **writer;
  if (report) Report({d.digest, PullProgress::Stage::kDownloading, 0, d.size});
  absl::Time last_report = absl::Now();
  // The digest is computed as the bytes stream into the staging file (ContentStore::Writer);
  // Commit checks it before the blob becomes visible.
  absl::Status status = client_->FetchBlob(
      d.digest, d.size >= 0 ? d.size : limit, [&](const char* data, size_t n) -> absl::Status {
        absl::Status s = w.Write(data, n);
        if (!s.ok()) return s;
        if (report && absl::Now() - last_report >= kProgressInterval) {
          last_report = absl::Now();
          Report({d.digest, PullProgress::Stage::kDownloading, w.size(), d.size});
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (d.size >= 0 && w.size() != d.size) {
    return absl::DataLossError(absl::StrCat("blob ", d.digest, ": the registry sent ", w.size(),
                                            " bytes, the manifest says ", d.size));
  }
  int64_t size = w.size();
  absl::StatusOr<std::string> digest = w.Commit(d.digest);
  if (absl::IsFailedPrecondition(digest.status())) {
    return absl::DataLossError(absl::StrCat("blob ", d.digest, ": ", digest.status().message(),
                                            "; the registry sent corrupt content, nothing of "
                                            "this pull was stored"));
  }
  if (!digest.ok()) return digest.status();
  {
    absl::MutexLock lock(&mu_);
    written_.push_back(*digest);
  }
  if (report) Report({d.digest, PullProgress::Stage::kDone, size, size});
  return absl::OkStatus();
}

absl::Status Puller::DownloadLayers(const std::vector<Descriptor>& layers) {
  std::vector<const Descriptor*> queue;
  std::set<std::string> seen;
  for (const Descriptor& d : layers) {
    if (!seen.insert(d.digest).second) continue;
    if (store_.content().Has(d.digest)) {
      Report({d.digest, PullProgress::Stage::kExists, d.size, d.size});
      continue;
    }
    queue.push_back(&d);
  }
  if (queue.empty()) return absl::OkStatus();
  std::atomic<size_t> next{0};
  absl::Mutex error_mu;
  absl::Status first_error;
  std::atomic<bool> failed{false};
  auto worker = [&] {
    while (true) {
      // After a failure no new download starts; those running finish, so that their verified
      // blobs are there for the next pull. A layer taken is always attempted.
      if (failed.load()) return;
      size_t i = next.fetch_add(1);
      if (i >= queue.size()) return;
      absl::Status status = Download(*queue[i], -1, /*report=*/true);
      if (!status.ok()) {
        absl::MutexLock lock(&error_mu);
        if (first_error.ok()) first_error = std::move(status);
        failed.store(true);
      }
    }
  };
  size_t n =
      std::min(queue.size(), static_cast<size_t>(std::max(1, options_.max_concurrent_downloads)));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < n; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&error_mu);
  return first_error;
}

absl::StatusOr<PullResult> Puller::Run(const PullRequest& request,
                                       std::vector<EventRecord>* events) {
  absl::StatusOr<DistributionReference> ref = ParseDistributionReference(request.reference);
  if (!ref.ok()) return ref.status();
  PullResult result;
  result.reference = ref->ToString();
  // The tag it gets here; checked before anything is fetched.
  std::vector<std::string> local_tags;
  if (!ref->tag.empty()) {
    std::string local = absl::StrCat(ref->FamiliarName(), ":", ref->tag);
    absl::StatusOr<ImageReference> parsed = ParseImageReference(local);
    if (!parsed.ok()) return parsed.status();
    local_tags.push_back(parsed->ToString());
  }
  Platform platform = HostPlatform();
  if (!request.platform.empty()) {
    absl::StatusOr<Platform> parsed = ParsePlatform(request.platform);
    if (!parsed.ok()) return parsed.status();
    platform = *parsed;
  }
  result.platform = platform.ToString();

  client_ = std::make_unique<RegistryClient>(ref->RegistryHost(), ref->repository,
                                             request.credentials, options_.registry);
  client_->set_cancelled(cancelled_);
  bool from_index = false;
  absl::StatusOr<RegistryClient::Manifest> manifest = ResolveManifest(*ref, platform, &from_index);
  if (!manifest.ok()) return manifest.status();
  std::string what = absl::StrCat("manifest ", manifest->digest, " of ", ref->ToString());
  if (absl::StartsWith(manifest->media_type, kDockerSchema1Prefix)) {
    return absl::UnimplementedError(
        absl::StrCat(ref->ToString(), " has a docker schema 1 manifest, which kapsel does not ",
                     "pull; push the image again with a current client"));
  }
  json parsed = json::parse(manifest->bytes, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("config") || !parsed.contains("layers") ||
      !parsed["layers"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not an image manifest (media type \"", manifest->media_type, "\")"));
  }
  absl::StatusOr<Descriptor> config = ParseDescriptor(parsed["config"], what);
  if (!config.ok()) return config.status();
  if (!config->media_type.empty() && config->media_type != kOciConfig &&
      config->media_type != kDockerConfig) {
    return absl::InvalidArgumentError(absl::StrCat(
        ref->ToString(), " is not a container image (config media type ", config->media_type, ")"));
  }
  std::vector<Descriptor> layers;
  for (const json& j : parsed["layers"]) {
    absl::StatusOr<Descriptor> d = ParseDescriptor(j, what);
    if (!d.ok()) return d.status();
    if (absl::StrContains(d->media_type, "encrypted")) {
      return absl::UnimplementedError(
          absl::StrCat(what, ": layer ", d->digest, " is encrypted (", d->media_type, ")"));
    }
    if (j.contains("urls")) {
      return absl::UnimplementedError(absl::StrCat(
          what, ": layer ", d->digest, " is a foreign layer served from elsewhere (urls)"));
    }
    layers.push_back(*std::move(d));
  }

  // Leased before anything is fetched: what this pull verifies survives a crash of the daemon
  // until the pull is done again (see ImageStore::LeaseBlobs).
  std::vector<std::string> leased = {manifest->digest, config->digest};
  for (const Descriptor& d : layers) leased.push_back(d.digest);
  absl::StatusOr<std::string> lease = store_.LeaseBlobs(leased);
  if (!lease.ok()) return lease.status();
  lease_id_ = *std::move(lease);

  // The manifest is kept so that a save writes it back verbatim.
  if (!store_.content().Has(manifest->digest)) {
    absl::StatusOr<std::string> stored = store_.content().Put(manifest->bytes);
    if (!stored.ok()) return stored.status();
    absl::MutexLock lock(&mu_);
    written_.push_back(*stored);
  }
  result.manifest_digest = manifest->digest;
  if (config->size > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": config ", config->digest, " is over ", kMaxConfigBytes, " bytes"));
  }
  if (!store_.content().Has(config->digest)) {
    absl::Status status = Download(*config, kMaxConfigBytes, /*report=*/false);
    if (!status.ok()) return status;
  }
  absl::StatusOr<std::string> config_json =
      linux::ReadFileBounded(store_.content().PathOf(config->digest), kMaxConfigBytes);
  if (!config_json.ok()) return config_json.status();
  json config_parsed = json::parse(*config_json, nullptr, /*allow_exceptions=*/false);
  if (!config_parsed.is_object() || !config_parsed.contains("rootfs") ||
      !config_parsed["rootfs"].is_object() || !config_parsed["rootfs"].contains("diff_ids") ||
      !config_parsed["rootfs"]["diff_ids"].is_array() ||
      config_parsed["rootfs"]["diff_ids"].size() != layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": config ", config->digest,
                                                   " does not list one rootfs.diff_id per layer"));
  }
  // A plain manifest says its platform only in the config: an explicit --platform must match.
  if (!request.platform.empty() && !from_index) {
    Platform have{config_parsed.value("os", ""), config_parsed.value("architecture", ""),
                  config_parsed.value("variant", "")};
    if (!PlatformMatches(platform, have)) {
      return absl::FailedPreconditionError(absl::StrCat(
          ref->ToString(), " is an image for ", have.ToString(), ", not ", platform.ToString()));
    }
  }

  absl::Status status = DownloadLayers(layers);
  if (!status.ok()) return status;

  ArchiveImage image;
  image.config_digest = config->digest;
  image.config_json = *std::move(config_json);
  image.manifest_digest = manifest->digest;
  for (const Descriptor& d : layers) image.layer_blobs.push_back(d.digest);
  image.references = local_tags;
  absl::StatusOr<ImageRecord> record =
      store_.CommitPulledImage(std::move(image), written(), result.reference, lease_id_, events);
  if (!record.ok()) return record.status();
  result.image = *std::move(record);
  return result;
}

}  // namespace

absl::StatusOr<PullResult> PullImage(ImageStore& store, const PullOptions& options,
                                     const PullRequest& request,
                                     const std::function<void(const PullProgress&)>& progress,
                                     const std::function<bool()>& cancelled,
                                     std::vector<EventRecord>* events) {
  Puller puller(store, options, progress, cancelled);
  absl::StatusOr<PullResult> result = puller.Run(request, events);
  if (!result.ok()) {
    absl::Status status(result.status().code(),
                        absl::StrCat("pull ", request.reference, ": ", result.status().message()));
    // Wrong content from the registry: nothing of this pull stays. Any other failure keeps the
    // verified blobs, leased, for the next attempt, also after a restart of the daemon.
    const bool discard = absl::IsDataLoss(status) || absl::IsInvalidArgument(status);
    if (!puller.lease_id().empty()) {
      absl::Status ended = store.EndLease(puller.lease_id(), /*release=*/discard);
      if (!ended.ok()) spdlog::warn("pull {}: end lease: {}", request.reference, ended.ToString());
    }
    if (discard) store.DiscardBlobs(puller.written());
    return status;
  }
  // The commit released the lease's rows.
  store.EndLease(puller.lease_id(), /*release=*/false).IgnoreError();
  return result;
}

}  // namespace kapsel::store
