#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/unique_fd.h"
#include "store/archive_sink.h"
#include "store/digest.h"
#include "store/image_archive.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;
using ::nlohmann::json;

constexpr size_t kBlockSize = 1 << 16;
constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
constexpr char kLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
constexpr char kLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr char kLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
constexpr char kRefName[] = "org.opencontainers.image.ref.name";

struct ArchiveWriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
using UniqueArchive = std::unique_ptr<struct archive, ArchiveWriteDeleter>;

// One blob of the archive, opened up front.
struct OpenBlob {
  UniqueFd fd;
  int64_t size = 0;  // bytes
  std::string media_type;
};

// The OCI media type of a layer blob, from its first bytes. The store keeps blobs as they came;
// an import may be xz or bzip2, which OCI has no layer type for.
absl::StatusOr<std::string> LayerMediaType(int fd, const std::string& digest) {
  unsigned char magic[6] = {};
  ssize_t n = pread(fd, magic, sizeof(magic), 0);
  if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read blob ", digest));
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return std::string(kLayerGzip);
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return std::string(kLayerZstd);
  }
  if ((n >= 6 && magic[0] == 0xfd && magic[1] == '7' && magic[2] == 'z' && magic[3] == 'X') ||
      (n >= 3 && magic[0] == 'B' && magic[1] == 'Z' && magic[2] == 'h')) {
    return absl::FailedPreconditionError(
        absl::StrCat("save: layer blob ", digest,
                     " is xz or bzip2 compressed, which OCI has no layer type for"));
  }
  return std::string(kLayerTar);
}

class Writer {
 public:
  Writer(const ContentStore& content, const ArchiveSink& sink) : content_(content), sink_(sink) {}

  absl::Status Run(const std::vector<SaveImage>& images) {
    json index = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", json::array()}};
    json docker = json::array();
    for (const SaveImage& image : images) {
      absl::Status status = Open(image.config_digest, kOciConfig);
      if (!status.ok()) return status;
      for (const std::string& layer : image.layer_blobs) {
        status = Open(layer, "");
        if (!status.ok()) return status;
      }
      absl::StatusOr<std::string> manifest = Manifest(image);
      if (!manifest.ok()) return manifest.status();
      json desc = {{"mediaType", blobs_[*manifest].media_type},
                   {"digest", *manifest},
                   {"size", blobs_[*manifest].size}};
      if (image.references.empty()) index["manifests"].push_back(desc);
      for (const std::string& ref : image.references) {
        desc["annotations"] = {{kRefName, ref}};
        index["manifests"].push_back(desc);
      }
      json layers = json::array();
      for (const std::string& layer : image.layer_blobs) layers.push_back(BlobPath(layer));
      docker.push_back({{"Config", BlobPath(image.config_digest)},
                        {"RepoTags", image.references},
                        {"Layers", layers}});
    }

    UniqueArchive a(archive_write_new());
    if (a == nullptr) return absl::ResourceExhaustedError("archive_write_new");
    ByteSinkContext ctx{&sink_, absl::OkStatus()};
    if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
        archive_write_open(a.get(), &ctx, nullptr, WriteToByteSink, nullptr) != ARCHIVE_OK) {
      return Failed(a.get(), ctx, "open");
    }
    a_ = a.get();
    ctx_ = &ctx;
    absl::Status status = Bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    if (status.ok()) status = Bytes("index.json", index.dump());
    if (status.ok()) status = Bytes("manifest.json", docker.dump());
    if (status.ok()) status = Dir("blobs/");
    if (status.ok()) status = Dir("blobs/sha256/");
    for (auto& [digest, blob] : blobs_) {
      if (!status.ok()) break;
      status = Blob(digest, blob);
    }
    if (!status.ok()) return status;
    if (archive_write_close(a.get()) != ARCHIVE_OK) return Failed(a.get(), ctx, "close");
    return absl::OkStatus();
  }

 private:
  static std::string BlobPath(absl::string_view digest) {
    absl::ConsumePrefix(&digest, "sha256:");
    return absl::StrCat("blobs/sha256/", digest);
  }

  static absl::Status Failed(struct archive* a, const ByteSinkContext& ctx,
                             absl::string_view what) {
    if (!ctx.status.ok()) return ctx.status;
    const char* msg = archive_error_string(a);
    return absl::InternalError(
        absl::StrCat("save: ", what, ": ", msg != nullptr ? msg : "libarchive error"));
  }

  absl::Status Open(const std::string& digest, absl::string_view media_type) {
    if (blobs_.contains(digest)) return absl::OkStatus();
    std::string path = content_.PathOf(digest);
    if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("save: bad digest ", digest));
    OpenBlob blob;
    blob.fd = UniqueFd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!blob.fd) {
      if (errno == ENOENT) {
        return absl::DataLossError(absl::StrCat("save: blob ", digest, " is missing from ", path));
      }
      return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
    }
    struct stat st;
    if (fstat(blob.fd.get(), &st) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("fstat ", path));
    }
    blob.size = st.st_size;
    if (media_type.empty()) {
      absl::StatusOr<std::string> type = LayerMediaType(blob.fd.get(), digest);
      if (!type.ok()) return type.status();
      blob.media_type = *type;
    } else {
      blob.media_type = std::string(media_type);
    }
    blobs_.emplace(digest, std::move(blob));
    return absl::OkStatus();
  }

  // The manifest's digest: the stored one when there is one, else one made from the blobs.
  absl::StatusOr<std::string> Manifest(const SaveImage& image) {
    if (!image.manifest_digest.empty() && content_.Has(image.manifest_digest)) {
      absl::Status status = Open(image.manifest_digest, kOciManifest);
      if (!status.ok()) return status;
      // A docker schema-2 manifest keeps its own media type in the index.
      OpenBlob& blob = blobs_[image.manifest_digest];
      std::string bytes(static_cast<size_t>(std::min<int64_t>(blob.size, 1 << 20)), '\0');
      ssize_t n = pread(blob.fd.get(), bytes.data(), bytes.size(), 0);
      if (n < 0)
        return absl::ErrnoToStatus(errno, absl::StrCat("read blob ", image.manifest_digest));
      bytes.resize(static_cast<size_t>(n));
      json parsed = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_object() && parsed.value("mediaType", "") != "") {
        blob.media_type = parsed.value("mediaType", "");
      }
      return image.manifest_digest;
    }
    json layers = json::array();
    for (const std::string& layer : image.layer_blobs) {
      const OpenBlob& blob = blobs_[layer];
      layers.push_back({{"mediaType", blob.media_type}, {"digest", layer}, {"size", blob.size}});
    }
    json manifest = {{"schemaVersion", 2},
                     {"mediaType", kOciManifest},
                     {"config",
                      {{"mediaType", kOciConfig},
                       {"digest", image.config_digest},
                       {"size", blobs_[image.config_digest].size}}},
                     {"layers", layers}};
    std::string bytes = manifest.dump();
    std::string digest = Sha256Of(bytes);
    made_[digest] = bytes;
    OpenBlob blob;
    blob.size = static_cast<int64_t>(bytes.size());
    blob.media_type = kOciManifest;
    blobs_.emplace(digest, std::move(blob));
    return digest;
  }

  absl::Status Header(const std::string& name, mode_t type, int64_t size) {
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> entry(
        archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), type);
    archive_entry_set_perm(entry.get(), type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(entry.get(), size);
    // Fixed owner and times: the same images give the same archive.
    archive_entry_set_mtime(entry.get(), 0, 0);
    if (archive_write_header(a_, entry.get()) != ARCHIVE_OK) {
      return Failed(a_, *ctx_, absl::StrCat("write header ", name));
    }
    return absl::OkStatus();
  }

  absl::Status Dir(const std::string& name) { return Header(name, AE_IFDIR, 0); }

  absl::Status Bytes(const std::string& name, const std::string& bytes) {
    absl::Status status = Header(name, AE_IFREG, static_cast<int64_t>(bytes.size()));
    if (!status.ok()) return status;
    if (!bytes.empty() && archive_write_data(a_, bytes.data(), bytes.size()) < 0) {
      return Failed(a_, *ctx_, absl::StrCat("write ", name));
    }
    return absl::OkStatus();
  }

  absl::Status Blob(const std::string& digest, const OpenBlob& blob) {
    std::string name = BlobPath(digest);
    if (auto it = made_.find(digest); it != made_.end()) return Bytes(name, it->second);
    absl::Status status = Header(name, AE_IFREG, blob.size);
    if (!status.ok()) return status;
    std::vector<char> buf(kBlockSize);
    int64_t done = 0;
    while (done < blob.size) {
      ssize_t n = pread(blob.fd.get(), buf.data(), buf.size(), done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read blob ", digest));
      if (n == 0) {
        return absl::DataLossError(absl::StrCat("save: blob ", digest, " shrank while saving"));
      }
      if (archive_write_data(a_, buf.data(), static_cast<size_t>(n)) < 0) {
        return Failed(a_, *ctx_, absl::StrCat("write ", name));
      }
      done += n;
    }
    return absl::OkStatus();
  }

  const ContentStore& content_;
  const ArchiveSink& sink_;
  std::map<std::string, OpenBlob> blobs_;
  std::map<std::string, std::string> made_;  // manifests made here: digest -> bytes
  struct archive* a_ = nullptr;
  ByteSinkContext* ctx_ = nullptr;
};

}  // namespace

absl::Status WriteImageArchive(const std::vector<SaveImage>& images, const ContentStore& content,
                               const ArchiveSink& sink) {
  if (images.empty()) return absl::InvalidArgumentError("save: no image given");
  return Writer(content, sink).Run(images);
}

}  // namespace kapsel::store
