#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace kapsel::store {

// An OCI platform (image-index spec, "platform" object), normalized like containerd's
// platforms.Normalize: x86_64 -> amd64, aarch64 -> arm64, armhf -> arm/v7, armel -> arm/v6,
// i386/i686 -> 386; arm64's default variant v8 is dropped, arm's default is v7.
struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64", "arm64", "arm", ...
  std::string variant;       // "" or "v7", "v8", ...

  std::string ToString() const;  // "linux/arm64", "linux/arm/v7"
};

// "os/arch[/variant]". InvalidArgument naming the text when malformed.
absl::StatusOr<Platform> ParsePlatform(absl::string_view text);

// linux and this build's architecture.
Platform HostPlatform();

// True when `have` (an index entry's platform) serves `want`: same os and architecture, and the
// same variant after normalization, or any variant when `want` names none.
bool PlatformMatches(const Platform& want, const Platform& have);

// The descriptor in image index (or docker manifest list) `index` whose platform matches `want`:
// an exact variant match is preferred over another variant of the architecture. Entries without
// a platform are taken only when the index has a single entry. NotFound listing the platforms
// the index offers when none matches.
absl::StatusOr<nlohmann::json> ChoosePlatformManifest(const nlohmann::json& index,
                                                      const Platform& want);

}  // namespace kapsel::store
