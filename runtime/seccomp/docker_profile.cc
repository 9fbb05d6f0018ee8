#include "runtime/seccomp/docker_profile.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/seccomp/oci_json.h"

namespace kapsel::runtime::seccomp {
namespace {

using nlohmann::json;

constexpr char kField[] = "seccomp profile";

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(kField, ": ", field, ": ", what));
}

absl::Status StringList(const json& obj, const char* key, const std::string& field,
                        std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  const std::string f = field.empty() ? key : absl::StrCat(field, ".", key);
  if (!it->is_array()) return FieldError(f, "must be an array of strings");
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) return FieldError(absl::StrCat(f, "[", i, "]"), "must be a string");
    out->push_back((*it)[i].get<std::string>());
  }
  return absl::OkStatus();
}

// "4.8" or "5.10.0" -> {4, 8}.
bool ParseKernelVersion(const std::string& text, int* major, int* minor) {
  int ma = 0, mi = 0;
  if (sscanf(text.c_str(), "%d.%d", &ma, &mi) != 2 || ma < 0 || mi < 0) return false;
  *major = ma;
  *minor = mi;
  return true;
}

absl::Status ParseFilter(const json& j, const std::string& field, DockerFilter* out) {
  if (j.is_null()) return absl::OkStatus();
  if (!j.is_object()) return FieldError(field, "must be an object");
  if (auto s = StringList(j, "caps", field, &out->caps); !s.ok()) return s;
  for (size_t i = 0; i < out->caps.size(); ++i) {
    if (out->caps[i].rfind("CAP_", 0) != 0) {
      return FieldError(absl::StrCat(field, ".caps[", i, "]"),
                        absl::StrCat("\"", out->caps[i], "\" is not a capability name (CAP_...)"));
    }
  }
  if (auto s = StringList(j, "arches", field, &out->arches); !s.ok()) return s;
  if (auto it = j.find("minKernel"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return FieldError(field + ".minKernel", "must be a string like \"4.8\"");
    out->min_kernel = it->get<std::string>();
    int major, minor;
    if (!ParseKernelVersion(out->min_kernel, &major, &minor)) {
      return FieldError(field + ".minKernel",
                        absl::StrCat("\"", out->min_kernel, "\" is not a version like 4.8"));
    }
  }
  return absl::OkStatus();
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool KernelAtLeast(const ProfileEnvironment& env, const std::string& version) {
  int major = 0, minor = 0;
  if (!ParseKernelVersion(version, &major, &minor)) return false;
  return env.kernel_major > major || (env.kernel_major == major && env.kernel_minor >= minor);
}

struct HostArch {
  const char* machine;  // uname -m
  const char* go_arch;
  const char* seccomp_arch;
};
constexpr HostArch kHostArches[] = {
    {"x86_64", "amd64", "SCMP_ARCH_X86_64"},  {"aarch64", "arm64", "SCMP_ARCH_AARCH64"},
    {"i686", "386", "SCMP_ARCH_X86"},         {"i386", "386", "SCMP_ARCH_X86"},
    {"armv7l", "arm", "SCMP_ARCH_ARM"},       {"ppc64le", "ppc64le", "SCMP_ARCH_PPC64LE"},
    {"s390x", "s390x", "SCMP_ARCH_S390X"},    {"riscv64", "riscv64", "SCMP_ARCH_RISCV64"},
    {"mips64", "mips64", "SCMP_ARCH_MIPS64"}, {"mips64el", "mips64le", "SCMP_ARCH_MIPSEL64"},
};

}  // namespace

ProfileEnvironment HostEnvironment(std::set<std::string> caps) {
  ProfileEnvironment env;
  env.caps = std::move(caps);
  struct utsname u;
  if (uname(&u) != 0) return env;
  for (const HostArch& a : kHostArches) {
    if (std::string(u.machine) == a.machine) {
      env.go_arch = a.go_arch;
      env.seccomp_arch = a.seccomp_arch;
    }
  }
  ParseKernelVersion(u.release, &env.kernel_major, &env.kernel_minor);
  return env;
}

absl::StatusOr<DockerProfile> ParseDockerProfile(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(kField, ": not valid JSON"));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(kField, ": not an object"));
  DockerProfile profile;
  // The OCI parser checks the shared fields; its messages are re-prefixed to name the profile.
  auto rename = [](const absl::Status& s) {
    std::string msg(s.message());
    constexpr char kOci[] = "linux.seccomp.";
    if (msg.rfind(kOci, 0) == 0) msg = msg.substr(sizeof(kOci) - 1);
    return absl::Status(s.code(), absl::StrCat(kField, ": ", msg));
  };
  json head = json::object();
  for (const char* key : {"defaultAction", "defaultErrnoRet", "flags"}) {
    if (j.contains(key)) head[key] = j[key];
  }
  auto base = ParseConfig(head, "linux.seccomp");
  if (!base.ok()) return rename(base.status());
  profile.default_action = base->default_action;
  profile.default_errno_ret = base->default_errno_ret;
  profile.flags = base->flags;

  if (auto s = StringList(j, "architectures", "", &profile.architectures); !s.ok()) return s;
  for (size_t i = 0; i < profile.architectures.size(); ++i) {
    if (!IsKnownArchitecture(profile.architectures[i])) {
      return FieldError(absl::StrCat("architectures[", i, "]"),
                        absl::StrCat("unknown architecture \"", profile.architectures[i], "\""));
    }
  }
  if (auto it = j.find("archMap"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return FieldError("archMap", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string f = absl::StrCat("archMap[", i, "]");
      const json& entry = (*it)[i];
      if (!entry.is_object()) return FieldError(f, "must be an object");
      DockerArchMap map;
      auto arch = entry.find("architecture");
      if (arch == entry.end() || !arch->is_string())
        return FieldError(f + ".architecture", "must be a string");
      map.architecture = arch->get<std::string>();
      if (auto s = StringList(entry, "subArchitectures", f, &map.sub_architectures); !s.ok())
        return s;
      std::vector<std::string> all = map.sub_architectures;
      all.insert(all.begin(), map.architecture);
      for (const std::string& a : all) {
        if (!IsKnownArchitecture(a))
          return FieldError(f, absl::StrCat("unknown architecture \"", a, "\""));
      }
      profile.arch_map.push_back(std::move(map));
    }
  }
  if (!profile.architectures.empty() && !profile.arch_map.empty()) {
    return FieldError("architectures", "cannot be given together with archMap");
  }
  if (auto it = j.find("syscalls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return FieldError("syscalls", "must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string f = absl::StrCat("syscalls[", i, "]");
      json entry = (*it)[i];
      if (!entry.is_object()) return FieldError(f, "must be an object");
      // The old single-name form.
      if (auto name = entry.find("name"); name != entry.end() && !name->is_null()) {
        if (entry.contains("names") && !entry["names"].is_null() && !entry["names"].empty())
          return FieldError(f, "use either name or names, not both");
        entry["names"] = json::array({*name});
        entry.erase("name");
      }
      DockerRule rule;
      auto call = ParseSyscall(entry, absl::StrCat("linux.seccomp.", f));
      if (!call.ok()) return rename(call.status());
      rule.syscall = *std::move(call);
      if (auto in = entry.find("includes"); in != entry.end()) {
        if (auto s = ParseFilter(*in, f + ".includes", &rule.includes); !s.ok()) return s;
      }
      if (auto ex = entry.find("excludes"); ex != entry.end()) {
        if (auto s = ParseFilter(*ex, f + ".excludes", &rule.excludes); !s.ok()) return s;
      }
      profile.rules.push_back(std::move(rule));
    }
  }
  return profile;
}

absl::StatusOr<Config> ResolveDockerProfile(const DockerProfile& profile,
                                            const ProfileEnvironment& env) {
  Config config;
  config.default_action = profile.default_action;
  config.default_errno_ret = profile.default_errno_ret;
  config.flags = profile.flags;
  config.architectures = profile.architectures;
  for (const DockerArchMap& map : profile.arch_map) {
    if (map.architecture != env.seccomp_arch) continue;
    config.architectures.push_back(map.architecture);
    for (const std::string& sub : map.sub_architectures) config.architectures.push_back(sub);
  }
  for (const DockerRule& rule : profile.rules) {
    const DockerFilter& in = rule.includes;
    const DockerFilter& ex = rule.excludes;
    if (!in.arches.empty() && !Contains(in.arches, env.go_arch)) continue;
    if (Contains(ex.arches, env.go_arch)) continue;
    bool has_all = std::all_of(in.caps.begin(), in.caps.end(),
                               [&](const std::string& c) { return env.caps.contains(c); });
    if (!has_all) continue;
    bool has_any = std::any_of(ex.caps.begin(), ex.caps.end(),
                               [&](const std::string& c) { return env.caps.contains(c); });
    if (has_any) continue;
    if (!in.min_kernel.empty() && !KernelAtLeast(env, in.min_kernel)) continue;
    if (!ex.min_kernel.empty() && KernelAtLeast(env, ex.min_kernel)) continue;
    config.syscalls.push_back(rule.syscall);
  }
  return config;
}

}  // namespace kapsel::runtime::seccomp
