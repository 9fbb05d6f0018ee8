#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/unique_fd.h"
#include "store/digest.h"
#include "store/image_archive.h"

namespace kapsel::store {
namespace {

using ::kapsel::linux::UniqueFd;
using ::nlohmann::json;

constexpr size_t kReadBlockSize = 1 << 16;
// index.json, manifest.json, manifests and configs are read into memory: bounded.
constexpr int64_t kMaxMetadataBytes = 8 << 20;
constexpr int kMaxLinkHops = 8;
constexpr int kMaxIndexDepth = 4;

constexpr absl::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr absl::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";

#if defined(__x86_64__)
constexpr absl::string_view kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr absl::string_view kHostArch = "arm64";
#elif defined(__i386__)
constexpr absl::string_view kHostArch = "386";
#elif defined(__arm__)
constexpr absl::string_view kHostArch = "arm";
#elif defined(__powerpc64__)
constexpr absl::string_view kHostArch = "ppc64le";
#elif defined(__s390x__)
constexpr absl::string_view kHostArch = "s390x";
#elif defined(__riscv)
constexpr absl::string_view kHostArch = "riscv64";
#else
constexpr absl::string_view kHostArch = "unknown";
#endif

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("load: ", what));
}

struct ArchiveReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using UniqueArchive = std::unique_ptr<struct archive, ArchiveReadDeleter>;

absl::Status ArchiveError(struct archive* a, absl::string_view what) {
  const char* msg = archive_error_string(a);
  int err = archive_errno(a);
  std::string text = absl::StrCat(what, ": ", msg != nullptr ? msg : "unknown libarchive error");
  if (err == ENOENT || err == EACCES || err == EIO || err == ENOSPC) {
    return absl::ErrnoToStatus(err, text);
  }
  return absl::InvalidArgumentError(text);
}

// "a/./b//c" -> "a/b/c"; ".." pops a component. nullopt when ".." leaves the archive root.
std::optional<std::string> CleanPath(absl::string_view path) {
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.emplace_back(part);
  }
  return absl::StrJoin(parts, "/");
}

bool IsMetadataName(absl::string_view path) {
  absl::string_view base = path.substr(path.rfind('/') + 1);
  return absl::EndsWith(base, ".json") || base == "oci-layout" || base == "repositories" ||
         base == "json" || base == "VERSION";
}

// What one pass over the archive found: blobs (in the content store), small metadata files (in
// memory) and links between archive paths.
struct ArchiveFiles {
  std::map<std::string, std::string> blobs;  // archive path -> digest in the content store
  std::map<std::string, std::string> small;  // archive path -> bytes
  std::map<std::string, std::string> links;  // archive path -> the archive path it names
};

class Scanner {
 public:
  Scanner(struct archive* a, ContentStore& content, std::vector<std::string>* written,
          const std::string& path)
      : a_(a), content_(content), written_(written), path_(path) {}

  absl::StatusOr<ArchiveFiles> Run() {
    while (true) {
      struct archive_entry* entry = nullptr;
      int r = archive_read_next_header(a_, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
        return ArchiveError(a_, absl::StrCat("load ", path_));
      }
      const char* raw = archive_entry_pathname(entry);
      if (raw == nullptr) return Bad("archive entry without a name");
      std::optional<std::string> name = CleanPath(raw);
      if (!name) return Bad(absl::StrCat("archive entry \"", raw, "\" leaves the archive"));
      if (name->empty()) continue;
      absl::Status status = Entry(entry, *name);
      if (!status.ok()) return status;
    }
    return std::move(files_);
  }

 private:
  absl::Status Entry(struct archive_entry* entry, const std::string& name) {
    if (const char* hardlink = archive_entry_hardlink(entry); hardlink != nullptr) {
      std::optional<std::string> target = CleanPath(hardlink);
      if (!target) return Bad(absl::StrCat("hardlink \"", name, "\" leaves the archive"));
      files_.links[name] = *target;
      return absl::OkStatus();
    }
    mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr) return Bad(absl::StrCat("symlink \"", name, "\" without a target"));
      // Relative to the link's directory; an absolute target is taken from the archive root.
      std::string joined = absl::StartsWith(target, "/")
                               ? std::string(target)
                               : absl::StrCat(name.substr(0, name.rfind('/') + 1), target);
      std::optional<std::string> clean = CleanPath(joined);
      if (!clean) return Bad(absl::StrCat("symlink \"", name, "\" leaves the archive"));
      files_.links[name] = *clean;
      return absl::OkStatus();
    }
    if (type != AE_IFREG) return absl::OkStatus();  // directories and anything else: not needed

    absl::string_view hex = name;
    if (absl::ConsumePrefix(&hex, "blobs/sha256/")) {
      std::string digest = absl::StrCat("sha256:", hex);
      if (!ValidateDigest(digest).ok()) return Bad(absl::StrCat("blob name \"", name, "\""));
      return Blob(name, digest);
    }
    if (IsMetadataName(name)) return Small(entry, name);
    return Blob(name, "");
  }

  absl::Status Small(struct archive_entry* entry, const std::string& name) {
    if (archive_entry_size_is_set(entry) && archive_entry_size(entry) > kMaxMetadataBytes) {
      return Bad(absl::StrCat(name, ": larger than ", kMaxMetadataBytes, " bytes"));
    }
    std::string bytes;
    std::vector<char> buf(kReadBlockSize);
    while (true) {
      la_ssize_t n = archive_read_data(a_, buf.data(), buf.size());
      if (n < 0) return ArchiveError(a_, absl::StrCat("load ", path_, ": read ", name));
      if (n == 0) break;
      bytes.append(buf.data(), static_cast<size_t>(n));
      if (static_cast<int64_t>(bytes.size()) > kMaxMetadataBytes) {
        return Bad(absl::StrCat(name, ": larger than ", kMaxMetadataBytes, " bytes"));
      }
    }
    files_.small[name] = std::move(bytes);
    return absl::OkStatus();
  }

  // Streams the entry into the content store, verified against `expected` when given.
  absl::Status Blob(const std::string& name, const std::string& expected) {
    if (!expected.empty() && content_.Has(expected)) {
      files_.blobs[name] = expected;
      return absl::OkStatus();  // the rest of the entry is skipped by the next header read
    }
    absl::StatusOr<std::unique_ptr<ContentStore::Writer>> writer = content_.NewWriter();
    if (!writer.ok()) return writer.status();
    std::vector<char> buf(kReadBlockSize);
    while (true) {
      la_ssize_t n = archive_read_data(a_, buf.data(), buf.size());
      if (n < 0) return ArchiveError(a_, absl::StrCat("load ", path_, ": read ", name));
      if (n == 0) break;
      absl::Status status = (*writer)->Write(buf.data(), static_cast<size_t>(n));
      if (!status.ok()) return status;
    }
    absl::StatusOr<std::string> digest = (*writer)->Commit(expected);
    if (absl::IsFailedPrecondition(digest.status())) {
      return Bad(absl::StrCat(name, ": content does not match its digest"));
    }
    if (!digest.ok()) return digest.status();
    written_->push_back(*digest);
    files_.blobs[name] = *digest;
    return absl::OkStatus();
  }

  struct archive* a_;
  ContentStore& content_;
  std::vector<std::string>* written_;
  const std::string& path_;
  ArchiveFiles files_;
};

// The archive after the scan, with the lookups the index and manifest parsers need.
class Loaded {
 public:
  Loaded(ArchiveFiles files, ContentStore& content, std::vector<std::string>* written)
      : files_(std::move(files)), content_(content), written_(written) {}

  // Follows links to the file an archive path names.
  std::string Follow(const std::string& path) const {
    std::string cur = path;
    for (int i = 0; i < kMaxLinkHops; ++i) {
      auto it = files_.links.find(cur);
      if (it == files_.links.end()) break;
      cur = it->second;
    }
    return cur;
  }

  const std::string* SmallFile(const std::string& path) const {
    auto it = files_.small.find(Follow(path));
    return it == files_.small.end() ? nullptr : &it->second;
  }

  // The digest of the stored blob at archive path `path`; a small file is stored on demand.
  absl::StatusOr<std::string> BlobAt(const std::string& path) {
    std::string target = Follow(path);
    if (auto it = files_.blobs.find(target); it != files_.blobs.end()) return it->second;
    if (auto it = files_.small.find(target); it != files_.small.end()) {
      absl::StatusOr<std::string> digest = content_.Put(it->second);
      if (!digest.ok()) return digest.status();
      written_->push_back(*digest);
      files_.blobs[target] = *digest;
      return *digest;
    }
    return Bad(absl::StrCat("\"", path, "\" is not in the archive"));
  }

  // Checks a descriptor {digest, size} against the content store; returns its digest.
  absl::StatusOr<std::string> CheckDescriptor(const json& desc, absl::string_view what) const {
    if (!desc.is_object() || !desc.contains("digest") || !desc["digest"].is_string()) {
      return Bad(absl::StrCat(what, ": descriptor without a digest"));
    }
    std::string digest = desc["digest"].get<std::string>();
    if (!ValidateDigest(digest).ok()) {
      return Bad(absl::StrCat(what, ": unsupported digest \"", digest, "\""));
    }
    struct stat st;
    if (!content_.Has(digest) || stat(content_.PathOf(digest).c_str(), &st) != 0) {
      return Bad(absl::StrCat(what, ": blob ", digest, " is missing from the archive"));
    }
    if (desc.contains("size") && desc["size"].is_number_integer() &&
        desc["size"].get<int64_t>() != st.st_size) {
      return Bad(absl::StrCat(what, ": blob ", digest, " has ", st.st_size,
                              " bytes, the descriptor says ", desc["size"].get<int64_t>()));
    }
    return digest;
  }

  absl::StatusOr<std::string> ReadBlob(const std::string& digest, absl::string_view what) const {
    absl::StatusOr<std::string> bytes =
        linux::ReadFileBounded(content_.PathOf(digest), kMaxMetadataBytes);
    if (absl::IsInvalidArgument(bytes.status())) {
      return Bad(absl::StrCat(what, " ", digest, ": larger than ", kMaxMetadataBytes, " bytes"));
    }
    return bytes;
  }

  absl::StatusOr<json> ReadJsonBlob(const std::string& digest, absl::string_view what) const {
    absl::StatusOr<std::string> bytes = ReadBlob(digest, what);
    if (!bytes.ok()) return bytes.status();
    json parsed = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return Bad(absl::StrCat(what, " ", digest, ": not a JSON object"));
    return parsed;
  }

 private:
  ArchiveFiles files_;
  ContentStore& content_;
  std::vector<std::string>* written_;
};

// "docker.io/library/busybox:1" -> "busybox:1", as docker shows it; a digest suffix is dropped.
std::string NormalizeReference(std::string ref) {
  if (size_t at = ref.find('@'); at != std::string::npos) ref.resize(at);
  absl::string_view view = ref;
  if (!absl::ConsumePrefix(&view, "docker.io/library/")) absl::ConsumePrefix(&view, "docker.io/");
  return std::string(view);
}

// Checks the config blob against the layers: a JSON object whose rootfs.diff_ids has one entry
// per layer.
absl::Status CheckConfig(const std::string& bytes, size_t layers, absl::string_view what) {
  json config = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return Bad(absl::StrCat(what, ": config is not a JSON object"));
  auto rootfs = config.find("rootfs");
  if (rootfs == config.end() || !rootfs->is_object() || !rootfs->contains("diff_ids") ||
      !(*rootfs)["diff_ids"].is_array()) {
    return Bad(absl::StrCat(what, ": config has no rootfs.diff_ids"));
  }
  if ((*rootfs)["diff_ids"].size() != layers) {
    return Bad(absl::StrCat(what, ": config lists ", (*rootfs)["diff_ids"].size(), " diff ids for ",
                            layers, " layers"));
  }
  return absl::OkStatus();
}

class OciReader {
 public:
  explicit OciReader(Loaded& loaded) : loaded_(loaded) {}

  absl::StatusOr<std::vector<ArchiveImage>> Read(const std::string& index_bytes) {
    json index = json::parse(index_bytes, nullptr, /*allow_exceptions=*/false);
    if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array()) {
      return Bad("index.json has no manifests array");
    }
    std::vector<ArchiveImage> out;
    std::map<std::string, size_t> by_manifest;
    for (const json& desc : index["manifests"]) {
      absl::StatusOr<std::string> manifest = ChooseManifest(desc, 0);
      if (!manifest.ok()) return manifest.status();
      auto [it, inserted] = by_manifest.emplace(*manifest, out.size());
      if (inserted) {
        absl::StatusOr<ArchiveImage> image = FromManifest(*manifest);
        if (!image.ok()) return image.status();
        out.push_back(*std::move(image));
      }
      std::optional<std::string> ref = RefName(desc);
      if (ref) out[it->second].references.push_back(*ref);
    }
    return out;
  }

 private:
  static std::optional<std::string> RefName(const json& desc) {
    auto annotations = desc.find("annotations");
    if (annotations == desc.end() || !annotations->is_object()) return std::nullopt;
    // containerd (docker >= 25) puts the full name here and only the tag in ref.name.
    for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
      auto it = annotations->find(key);
      if (it != annotations->end() && it->is_string() && !it->get<std::string>().empty()) {
        return NormalizeReference(it->get<std::string>());
      }
    }
    return std::nullopt;
  }

  static std::string MediaType(const json& j) {
    auto it = j.find("mediaType");
    return it != j.end() && it->is_string() ? it->get<std::string>() : "";
  }

  // The manifest digest a top-level descriptor leads to: itself, or this host's entry of an
  // index (recursively).
  absl::StatusOr<std::string> ChooseManifest(const json& desc, int depth) {
    absl::StatusOr<std::string> digest = loaded_.CheckDescriptor(desc, "index.json");
    if (!digest.ok()) return digest.status();
    std::string type = MediaType(desc);
    if (type != kOciIndex && type != kDockerManifestList) return *digest;
    if (depth >= kMaxIndexDepth)
      return Bad(absl::StrCat("image index ", *digest, " nests too deep"));
    absl::StatusOr<json> index = loaded_.ReadJsonBlob(*digest, "image index");
    if (!index.ok()) return index.status();
    if (!index->contains("manifests") || !(*index)["manifests"].is_array()) {
      return Bad(absl::StrCat("image index ", *digest, " has no manifests"));
    }
    const json* chosen = nullptr;
    const json& manifests = (*index)["manifests"];
    for (const json& m : manifests) {
      if (!m.is_object()) continue;
      const json platform = m.value("platform", json::object());
      if (platform.value("os", "") == "linux" && platform.value("architecture", "") == kHostArch) {
        chosen = &m;
        break;
      }
    }
    if (chosen == nullptr && manifests.size() == 1) chosen = &manifests[0];
    if (chosen == nullptr) {
      return Bad(absl::StrCat("image index ", *digest, " has no manifest for linux/", kHostArch));
    }
    return ChooseManifest(*chosen, depth + 1);
  }

  absl::StatusOr<ArchiveImage> FromManifest(const std::string& digest) {
    std::string what = absl::StrCat("manifest ", digest);
    absl::StatusOr<json> manifest = loaded_.ReadJsonBlob(digest, "manifest");
    if (!manifest.ok()) return manifest.status();
    if (!manifest->contains("config") || !manifest->contains("layers") ||
        !(*manifest)["layers"].is_array()) {
      return Bad(absl::StrCat(what, ": not an image manifest (no config or layers)"));
    }
    ArchiveImage image;
    image.manifest_digest = digest;
    absl::StatusOr<std::string> config = loaded_.CheckDescriptor((*manifest)["config"], what);
    if (!config.ok()) return config.status();
    image.config_digest = *config;
    for (const json& layer : (*manifest)["layers"]) {
      absl::StatusOr<std::string> blob = loaded_.CheckDescriptor(layer, what);
      if (!blob.ok()) return blob.status();
      image.layer_blobs.push_back(*blob);
    }
    absl::StatusOr<std::string> config_bytes = loaded_.ReadBlob(*config, "config");
    if (!config_bytes.ok()) return config_bytes.status();
    image.config_json = *std::move(config_bytes);
    absl::Status status = CheckConfig(image.config_json, image.layer_blobs.size(), what);
    if (!status.ok()) return status;
    return image;
  }

  Loaded& loaded_;
};

absl::StatusOr<std::vector<ArchiveImage>> ReadDocker(Loaded& loaded,
                                                     const std::string& manifest_bytes) {
  json manifest = json::parse(manifest_bytes, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_array()) return Bad("manifest.json is not a JSON array");
  std::vector<ArchiveImage> out;
  std::map<std::string, size_t> by_config;
  for (const json& entry : manifest) {
    if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() ||
        !entry.contains("Layers") || !entry["Layers"].is_array()) {
      return Bad("manifest.json: an entry without Config or Layers");
    }
    const std::string config_path = entry["Config"].get<std::string>();
    std::string what = absl::StrCat("manifest.json entry ", config_path);
    absl::StatusOr<std::string> config = loaded.BlobAt(config_path);
    if (!config.ok()) return config.status();
    // Docker names a config by its digest: <hex>.json.
    absl::string_view base = absl::string_view(config_path).substr(config_path.rfind('/') + 1);
    if (absl::ConsumeSuffix(&base, ".json") && base.size() == 64 && IsLowerHex(base) &&
        *config != absl::StrCat("sha256:", base)) {
      return Bad(absl::StrCat(config_path, ": content does not match its name (", *config, ")"));
    }
    ArchiveImage image;
    image.config_digest = *config;
    for (const json& layer : entry["Layers"]) {
      if (!layer.is_string()) return Bad(absl::StrCat(what, ": a layer path is not a string"));
      absl::StatusOr<std::string> blob = loaded.BlobAt(layer.get<std::string>());
      if (!blob.ok()) return blob.status();
      image.layer_blobs.push_back(*blob);
    }
    absl::StatusOr<std::string> config_bytes = loaded.ReadBlob(*config, "config");
    if (!config_bytes.ok()) return config_bytes.status();
    image.config_json = *std::move(config_bytes);
    absl::Status status = CheckConfig(image.config_json, image.layer_blobs.size(), what);
    if (!status.ok()) return status;
    auto [it, inserted] = by_config.emplace(image.config_digest, out.size());
    if (inserted) out.push_back(std::move(image));
    if (auto tags = entry.find("RepoTags"); tags != entry.end() && tags->is_array()) {
      for (const json& tag : *tags) {
        if (tag.is_string()) {
          out[it->second].references.push_back(NormalizeReference(tag.get<std::string>()));
        }
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ArchiveImage>> ReadImageArchive(const std::string& path,
                                                           ContentStore& content,
                                                           std::vector<std::string>* written) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  UniqueArchive a(archive_read_new());
  if (a == nullptr) return absl::ResourceExhaustedError("archive_read_new");
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_fd(a.get(), fd.get(), kReadBlockSize) != ARCHIVE_OK) {
    return ArchiveError(a.get(), absl::StrCat("load ", path));
  }
  absl::StatusOr<ArchiveFiles> files = Scanner(a.get(), content, written, path).Run();
  if (!files.ok()) return files.status();
  Loaded loaded(*std::move(files), content, written);
  if (const std::string* layout = loaded.SmallFile("oci-layout"); layout != nullptr) {
    json parsed = json::parse(*layout, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.value("imageLayoutVersion", "").starts_with("1.")) {
      return Bad("oci-layout: unsupported imageLayoutVersion");
    }
  }
  if (const std::string* index = loaded.SmallFile("index.json"); index != nullptr) {
    return OciReader(loaded).Read(*index);
  }
  if (const std::string* manifest = loaded.SmallFile("manifest.json"); manifest != nullptr) {
    return ReadDocker(loaded, *manifest);
  }
  return Bad(absl::StrCat(path,
                          ": neither an OCI image layout (no index.json) nor a docker archive "
                          "(no manifest.json)"));
}

}  // namespace kapsel::store
