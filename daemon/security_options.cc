#include "daemon/security_options.h"

#include <sys/capability.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/seccomp/compile.h"
#include "runtime/seccomp/default_profile.h"
#include "runtime/seccomp/docker_profile.h"
#include "runtime/seccomp/oci_json.h"

namespace kapsel::daemon {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

absl::StatusOr<std::vector<std::string>> NormalizeAll(
    const google::protobuf::RepeatedPtrField<std::string>& names, const std::string& flag) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    auto normalized = NormalizeCapability(name, flag);
    if (!normalized.ok()) return normalized.status();
    if (!Contains(out, *normalized)) out.push_back(*normalized);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> NormalizeCapability(const std::string& name, const std::string& flag) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (upper == "ALL") return upper;
  if (upper.rfind("CAP_", 0) != 0) upper = absl::StrCat("CAP_", upper);
  std::string lower = absl::AsciiStrToLower(upper);
  cap_value_t cap;
  // cap_from_name(3) also takes numbers, lists and surrounding blanks; only a plain name is a
  // capability here.
  bool plain = !name.empty() && !absl::ascii_isdigit(static_cast<unsigned char>(upper[4]));
  for (char c : upper) plain &= absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  if (!plain || cap_from_name(lower.c_str(), &cap) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", name, "\": unknown capability"));
  }
  return upper;
}

std::vector<std::string> AllCapabilities() {
  std::vector<std::string> out;
  // cap_max_bits(3): the number of capabilities of the running kernel.
  for (cap_value_t cap = 0; cap < cap_max_bits(); ++cap) {
    // Only those kapseld can hand on: a capability outside its own bounding set (kapseld in a
    // container, or started with some dropped) would make the container's capset fail.
    if (cap_get_bound(cap) != 1) continue;
    char* name = cap_to_name(cap);
    if (name == nullptr) continue;
    std::string text(name);
    cap_free(name);
    // A capability newer than libcap comes back as a number; it has no name to put in a spec.
    if (text.rfind("cap_", 0) != 0) continue;
    out.push_back(absl::AsciiStrToUpper(text));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ContainerCapabilities(
    const v1::SecurityOptions& security, const std::vector<std::string>& defaults) {
  // Bad names are refused even where they would not matter (--privileged).
  auto adds = NormalizeAll(security.cap_add(), "--cap-add");
  if (!adds.ok()) return adds.status();
  auto drops = NormalizeAll(security.cap_drop(), "--cap-drop");
  if (!drops.ok()) return drops.status();
  if (security.privileged()) return AllCapabilities();
  std::vector<std::string> caps;
  if (Contains(*adds, "ALL")) {
    for (const std::string& c : AllCapabilities()) {
      if (!Contains(*drops, c)) caps.push_back(c);
    }
    return caps;
  }
  if (!Contains(*drops, "ALL")) {
    for (const std::string& c : defaults) {
      if (!Contains(*drops, c)) caps.push_back(c);
    }
  }
  for (const std::string& c : *adds) {
    if (!Contains(caps, c)) caps.push_back(c);
  }
  return caps;
}

absl::StatusOr<nlohmann::json> SeccompSection(const v1::SecurityOptions& security,
                                              const std::vector<std::string>& bounding) {
  // Spelled out for reviewers: these two options run the container without any seccomp filter.
  if (security.privileged() || security.seccomp_unconfined()) return nlohmann::json();
  namespace seccomp = runtime::seccomp;
  const std::set<std::string> caps(bounding.begin(), bounding.end());
  // The default profile depends only on the host and the bounding set: it is built and checked
  // once per set, not at every create (~3 ms of libseccomp work each time).
  static std::mutex default_mu;
  static auto* default_sections = new std::map<std::set<std::string>, nlohmann::json>;
  const bool is_default = security.seccomp_profile_json().empty();
  if (is_default) {
    std::lock_guard<std::mutex> lock(default_mu);
    if (auto it = default_sections->find(caps); it != default_sections->end()) return it->second;
  }
  seccomp::ProfileEnvironment env = seccomp::HostEnvironment(caps);
  absl::StatusOr<seccomp::Config> config;
  if (is_default) {
    config = seccomp::DefaultProfile(env);
  } else {
    auto profile = seccomp::ParseDockerProfile(security.seccomp_profile_json());
    if (!profile.ok()) return profile.status();
    config = seccomp::ResolveDockerProfile(*profile, env);
  }
  if (!config.ok()) return config.status();
  if (auto filter = seccomp::Compile(*config); !filter.ok()) {
    return absl::Status(filter.status().code(),
                        absl::StrCat("seccomp profile: ", filter.status().message()));
  }
  nlohmann::json section = seccomp::ConfigToJson(*config);
  if (is_default) {
    std::lock_guard<std::mutex> lock(default_mu);
    if (default_sections->size() >= 32) default_sections->clear();  // a few sets in practice
    default_sections->emplace(caps, section);
  }
  return section;
}

}  // namespace kapsel::daemon
