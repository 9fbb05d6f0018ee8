#include "store/platform.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kapsel::store {
namespace {

using ::nlohmann::json;

Platform Normalize(Platform p) {
  p.os = absl::AsciiStrToLower(p.os);
  p.architecture = absl::AsciiStrToLower(p.architecture);
  p.variant = absl::AsciiStrToLower(p.variant);
  const std::string& arch = p.architecture;
  if (arch == "x86_64" || arch == "x86-64") {
    p.architecture = "amd64";
  } else if (arch == "i386" || arch == "i686") {
    p.architecture = "386";
  } else if (arch == "aarch64") {
    p.architecture = "arm64";
  } else if (arch == "armhf") {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (arch == "armel") {
    p.architecture = "arm";
    p.variant = "v6";
  }
  if (p.architecture == "arm64" && p.variant == "v8") p.variant.clear();
  if (p.architecture == "arm" && p.variant.empty()) p.variant = "v7";
  if (p.architecture == "amd64" && p.variant == "v1") p.variant.clear();
  return p;
}

Platform FromJson(const json& platform) {
  Platform p;
  if (!platform.is_object()) return p;
  auto text = [&](const char* key) {
    auto it = platform.find(key);
    return it != platform.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  p.os = text("os");
  p.architecture = text("architecture");
  p.variant = text("variant");
  return Normalize(std::move(p));
}

}  // namespace

std::string Platform::ToString() const {
  std::string out = absl::StrCat(os, "/", architecture);
  if (!variant.empty()) absl::StrAppend(&out, "/", variant);
  return out;
}

absl::StatusOr<Platform> ParsePlatform(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty() ||
      (parts.size() == 3 && parts[2].empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid platform \"", text, "\": want os/arch[/variant], e.g. linux/arm64"));
  }
  for (const std::string& part : parts) {
    for (char c : part) {
      if (!absl::ascii_isalnum(c) && c != '_' && c != '-') {
        return absl::InvalidArgumentError(absl::StrCat("invalid platform \"", text, "\""));
      }
    }
  }
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return Normalize(std::move(p));
}

Platform HostPlatform() {
#if defined(__x86_64__)
  return {"linux", "amd64", ""};
#elif defined(__aarch64__)
  return {"linux", "arm64", ""};
#elif defined(__i386__)
  return {"linux", "386", ""};
#elif defined(__arm__)
  return {"linux", "arm", "v7"};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return {"linux", "ppc64le", ""};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__riscv) && __riscv_xlen == 64
  return {"linux", "riscv64", ""};
#else
  return {"linux", "unknown", ""};
#endif
}

bool PlatformMatches(const Platform& want, const Platform& have) {
  Platform w = Normalize(want);
  Platform h = Normalize(have);
  if (w.os != h.os || w.architecture != h.architecture) return false;
  // arm without a variant normalizes to v7: "linux/arm" then asks for any arm variant.
  bool any_variant = want.variant.empty();
  return any_variant || w.variant == h.variant;
}

absl::StatusOr<json> ChoosePlatformManifest(const json& index, const Platform& want) {
  auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array()) {
    return absl::InvalidArgumentError("image index has no manifests array");
  }
  Platform w = Normalize(want);
  const json* exact = nullptr;
  const json* other_variant = nullptr;
  std::vector<std::string> offered;
  for (const json& m : *manifests) {
    if (!m.is_object()) continue;
    auto platform = m.find("platform");
    if (platform == m.end()) continue;
    Platform have = FromJson(*platform);
    offered.push_back(have.ToString());
    if (!PlatformMatches(want, have)) continue;
    if (have.variant == w.variant) {
      if (exact == nullptr) exact = &m;
    } else if (other_variant == nullptr) {
      other_variant = &m;
    }
  }
  if (exact != nullptr) return *exact;
  if (other_variant != nullptr) return *other_variant;
  if (manifests->size() == 1 && (*manifests)[0].is_object() &&
      !(*manifests)[0].contains("platform")) {
    return (*manifests)[0];
  }
  return absl::NotFoundError(
      absl::StrCat("no manifest for ", w.ToString(), " in the image index (it has: ",
                   offered.empty() ? "none" : absl::StrJoin(offered, ", "), ")"));
}

}  // namespace kapsel::store
