#include "daemon/userns_remap.h"

#include <grp.h>
#include <pwd.h>

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/linux/syscalls.h"

namespace kapsel::daemon {
namespace {

constexpr size_t kMaxSubidFile = 1 << 20;

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// The number of account `name` in the passwd or group database, as text; empty when unknown.
std::string AccountId(const std::string& name, bool group) {
  if (group) {
    struct group g, *found = nullptr;
    char buf[4096];
    if (getgrnam_r(name.c_str(), &g, buf, sizeof(buf), &found) == 0 && found != nullptr) {
      return absl::StrCat(found->gr_gid);
    }
    return "";
  }
  struct passwd p, *found = nullptr;
  char buf[4096];
  if (getpwnam_r(name.c_str(), &p, buf, sizeof(buf), &found) == 0 && found != nullptr) {
    return absl::StrCat(found->pw_uid);
  }
  return "";
}

absl::StatusOr<std::vector<runtime::IdMapping>> MappingsFromFile(const std::string& path,
                                                                 const std::string& name,
                                                                 bool group) {
  absl::StatusOr<std::string> text = linux::ReadFileBounded(path, kMaxSubidFile);
  if (!text.ok()) {
    if (!absl::IsNotFound(text.status())) return text.status();
    text = std::string();
  }
  auto mappings = SubordinateMappings(*text, name, AccountId(name, group), path);
  if (!mappings.ok()) return mappings.status();
  uint32_t total = 0;
  for (const runtime::IdMapping& m : *mappings) total += m.size;
  if (total < kMinRemapIds) {
    return absl::FailedPreconditionError(
        absl::StrCat("userns remap: ", path, " gives ", name, " ", total, " ids, at least ",
                     kMinRemapIds, " are needed (add a line such as \"", name, ":100000:65536\")"));
  }
  return mappings;
}

}  // namespace

absl::StatusOr<std::vector<runtime::IdMapping>> SubordinateMappings(absl::string_view text,
                                                                    absl::string_view name,
                                                                    absl::string_view id,
                                                                    absl::string_view source) {
  std::vector<runtime::IdMapping> out;
  uint64_t next_container_id = 0;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ':');
    uint32_t start = 0, count = 0;
    if (fields.size() != 3 || !absl::SimpleAtoi(fields[1], &start) ||
        !absl::SimpleAtoi(fields[2], &count)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": \"", line, "\" is not NAME:START:COUNT"));
    }
    if (fields[0] != name && (id.empty() || fields[0] != id)) continue;
    if (count == 0) continue;
    if (start == 0 ||
        static_cast<uint64_t>(start) + count - 1 > std::numeric_limits<uint32_t>::max() - 1) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": the range ",
                                                     start, "+", count,
                                                     " includes the host's root or wraps around"));
    }
    if (next_container_id + count > std::numeric_limits<uint32_t>::max()) break;
    out.push_back({static_cast<uint32_t>(next_container_id), start, count});
    next_container_id += count;
  }
  if (out.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("userns remap: ", source, " has no range for ", name,
                     " (add a line such as \"", name, ":100000:65536\")"));
  }
  return out;
}

absl::StatusOr<UsernsRemap> ResolveUsernsRemap(const std::string& value,
                                               const std::string& subuid_path,
                                               const std::string& subgid_path) {
  UsernsRemap remap;
  std::vector<std::string> parts = absl::StrSplit(value, absl::MaxSplits(':', 1));
  remap.user = parts[0] == "default" && parts.size() == 1 ? "kapsel" : parts[0];
  remap.group = parts.size() == 2 ? parts[1] : remap.user;
  if (!ValidName(remap.user) || !ValidName(remap.group)) {
    return absl::InvalidArgumentError(
        absl::StrCat("userns remap \"", value, "\": not \"default\" or USER[:GROUP]"));
  }
  auto uids = MappingsFromFile(subuid_path, remap.user, /*group=*/false);
  if (!uids.ok()) return uids.status();
  auto gids = MappingsFromFile(subgid_path, remap.group, /*group=*/true);
  if (!gids.ok()) return gids.status();
  remap.uid_mappings = *std::move(uids);
  remap.gid_mappings = *std::move(gids);
  return remap;
}

}  // namespace kapsel::daemon
