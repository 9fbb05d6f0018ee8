#include "runtime/spec.h"

#include <sys/capability.h>
#include <sys/resource.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "runtime/seccomp/oci_json.h"

namespace kapsel::runtime {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

// Reads an optional member of the expected JSON type; a wrong type is an error naming the field.
template <typename T>
absl::Status Get(const json& obj, const char* key, const std::string& field, T* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return FieldError(absl::StrCat(field, ".", key), "has the wrong type");
  }
  return absl::OkStatus();
}

absl::Status RequireObject(const json& j, const std::string& field) {
  if (!j.is_object()) return FieldError(field, "must be an object");
  return absl::OkStatus();
}

absl::Status RequireArray(const json& j, const std::string& field) {
  if (!j.is_array()) return FieldError(field, "must be an array");
  return absl::OkStatus();
}

bool IsCleanAbsolute(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::StatusOr<int> RlimitByName(const std::string& name) {
  static const std::map<std::string, int> kRlimits = {
      {"RLIMIT_AS", RLIMIT_AS},
      {"RLIMIT_CORE", RLIMIT_CORE},
      {"RLIMIT_CPU", RLIMIT_CPU},
      {"RLIMIT_DATA", RLIMIT_DATA},
      {"RLIMIT_FSIZE", RLIMIT_FSIZE},
      {"RLIMIT_LOCKS", RLIMIT_LOCKS},
      {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
      {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
      {"RLIMIT_NICE", RLIMIT_NICE},
      {"RLIMIT_NOFILE", RLIMIT_NOFILE},
      {"RLIMIT_NPROC", RLIMIT_NPROC},
      {"RLIMIT_RSS", RLIMIT_RSS},
      {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
      {"RLIMIT_RTTIME", RLIMIT_RTTIME},
      {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
      {"RLIMIT_STACK", RLIMIT_STACK},
  };
  auto it = kRlimits.find(name);
  if (it == kRlimits.end()) return absl::NotFoundError(name);
  return it->second;
}

absl::StatusOr<uint64_t> CapSet(const json& arr, const std::string& field) {
  if (auto s = RequireArray(arr, field); !s.ok()) return s;
  uint64_t mask = 0;
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string())
      return FieldError(absl::StrCat(field, "[", i, "]"), "must be a string");
    std::string name = arr[i].get<std::string>();
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(tolower(c));
    cap_value_t cap;
    if (cap_from_name(lower.c_str(), &cap) != 0 || cap < 0 || cap > 63) {
      return FieldError(absl::StrCat(field, "[", i, "]"),
                        absl::StrCat("unknown capability ", name));
    }
    mask |= uint64_t{1} << cap;
  }
  return mask;
}

absl::Status ParseProcess(const json& j, Process* p) {
  const std::string f = "process";
  if (auto s = RequireObject(j, f); !s.ok()) return s;
  if (auto s = Get(j, "terminal", f, &p->terminal); !s.ok()) return s;
  if (auto s = Get(j, "args", f, &p->args); !s.ok()) return s;
  if (p->args.empty()) return FieldError("process.args", "must not be empty");
  if (p->args[0].empty()) return FieldError("process.args[0]", "must not be empty");
  if (auto s = Get(j, "env", f, &p->env); !s.ok()) return s;
  for (size_t i = 0; i < p->env.size(); ++i) {
    auto eq = p->env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      return FieldError(absl::StrCat("process.env[", i, "]"), "must be KEY=VALUE");
    }
  }
  if (auto s = Get(j, "cwd", f, &p->cwd); !s.ok()) return s;
  if (!IsCleanAbsolute(p->cwd))
    return FieldError("process.cwd", "must be an absolute path without ..");
  if (auto it = j.find("user"); it != j.end()) {
    if (auto s = RequireObject(*it, "process.user"); !s.ok()) return s;
    uint32_t uid = 0, gid = 0;
    if (auto s = Get(*it, "uid", "process.user", &uid); !s.ok()) return s;
    if (auto s = Get(*it, "gid", "process.user", &gid); !s.ok()) return s;
    p->user.uid = uid;
    p->user.gid = gid;
    std::vector<uint32_t> extra;
    if (auto s = Get(*it, "additionalGids", "process.user", &extra); !s.ok()) return s;
    p->user.additional_gids.assign(extra.begin(), extra.end());
    if (it->contains("umask")) {
      uint32_t umask = 0;
      if (auto s = Get(*it, "umask", "process.user", &umask); !s.ok()) return s;
      if (umask > 0777) return FieldError("process.user.umask", "must be at most 0777");
      p->user.umask = umask;
    }
  }
  if (auto it = j.find("rlimits"); it != j.end()) {
    if (auto s = RequireArray(*it, "process.rlimits"); !s.ok()) return s;
    std::set<int> seen;
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string rf = absl::StrCat("process.rlimits[", i, "]");
      const json& r = (*it)[i];
      if (auto s = RequireObject(r, rf); !s.ok()) return s;
      std::string type;
      if (auto s = Get(r, "type", rf, &type); !s.ok()) return s;
      auto res = RlimitByName(type);
      if (!res.ok()) return FieldError(rf + ".type", absl::StrCat("unknown rlimit \"", type, "\""));
      Rlimit rl;
      rl.resource = *res;
      if (auto s = Get(r, "soft", rf, &rl.soft); !s.ok()) return s;
      if (auto s = Get(r, "hard", rf, &rl.hard); !s.ok()) return s;
      if (rl.soft > rl.hard) return FieldError(rf, "soft limit exceeds hard limit");
      if (!seen.insert(rl.resource).second) return FieldError(rf + ".type", "given twice");
      p->rlimits.push_back(rl);
    }
  }
  if (auto it = j.find("capabilities"); it != j.end() && !it->is_null()) {
    if (auto s = RequireObject(*it, "process.capabilities"); !s.ok()) return s;
    Capabilities caps;
    struct {
      const char* key;
      uint64_t* out;
    } sets[] = {{"bounding", &caps.bounding},
                {"effective", &caps.effective},
                {"permitted", &caps.permitted},
                {"inheritable", &caps.inheritable},
                {"ambient", &caps.ambient}};
    for (auto& set : sets) {
      auto m = it->find(set.key);
      if (m == it->end()) continue;
      auto mask = CapSet(*m, absl::StrCat("process.capabilities.", set.key));
      if (!mask.ok()) return mask.status();
      *set.out = *mask;
    }
    p->capabilities = caps;
  }
  if (auto s = Get(j, "noNewPrivileges", f, &p->no_new_privileges); !s.ok()) return s;
  if (j.contains("oomScoreAdj")) {
    int adj = 0;
    if (auto s = Get(j, "oomScoreAdj", f, &adj); !s.ok()) return s;
    if (adj < -1000 || adj > 1000)
      return FieldError("process.oomScoreAdj", "must be in [-1000, 1000]");
    p->oom_score_adj = adj;
  }
  if (j.contains("apparmorProfile") || j.contains("selinuxLabel")) {
    // Linux security modules are not used by kapsel; an explicit request must not pass silently.
    std::string a, s;
    (void)Get(j, "apparmorProfile", f, &a);
    (void)Get(j, "selinuxLabel", f, &s);
    if (!a.empty()) return FieldError("process.apparmorProfile", "is not supported");
    if (!s.empty()) return FieldError("process.selinuxLabel", "is not supported");
  }
  return absl::OkStatus();
}

absl::StatusOr<NamespaceType> NamespaceByName(const std::string& name) {
  static const std::map<std::string, NamespaceType> kTypes = {
      {"mount", NamespaceType::kMount},     {"pid", NamespaceType::kPid},
      {"uts", NamespaceType::kUts},         {"ipc", NamespaceType::kIpc},
      {"network", NamespaceType::kNetwork}, {"cgroup", NamespaceType::kCgroup},
      {"user", NamespaceType::kUser},       {"time", NamespaceType::kTime},
  };
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return absl::NotFoundError(name);
  return it->second;
}

absl::Status ParseMappings(const json& j, const std::string& field, std::vector<IdMapping>* out) {
  if (auto s = RequireArray(j, field); !s.ok()) return s;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string mf = absl::StrCat(field, "[", i, "]");
    IdMapping m;
    if (auto s = Get(j[i], "containerID", mf, &m.container_id); !s.ok()) return s;
    if (auto s = Get(j[i], "hostID", mf, &m.host_id); !s.ok()) return s;
    if (auto s = Get(j[i], "size", mf, &m.size); !s.ok()) return s;
    if (m.size == 0) return FieldError(mf + ".size", "must be positive");
    out->push_back(m);
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GetPositive(const json& obj, const char* key, const std::string& field,
                         std::optional<T>* out, bool allow_minus_one = false) {
  if (!obj.contains(key) || obj[key].is_null()) return absl::OkStatus();
  T v{};
  if (auto s = Get(obj, key, field, &v); !s.ok()) return s;
  if (allow_minus_one && v == static_cast<T>(-1)) {
    *out = v;
    return absl::OkStatus();
  }
  if (v <= 0) return FieldError(absl::StrCat(field, ".", key), "must be positive");
  *out = v;
  return absl::OkStatus();
}

absl::Status ParseResources(const json& j, Resources* r) {
  const std::string f = "linux.resources";
  if (auto s = RequireObject(j, f); !s.ok()) return s;
  static const std::set<std::string> kKnown = {
      "memory", "cpu", "pids", "blockIO", "devices", "hugepageLimits", "unified"};
  for (const auto& [key, value] : j.items()) {
    if (!kKnown.contains(key)) return FieldError(absl::StrCat(f, ".", key), "is not supported");
  }
  if (auto s = Get(j, "unified", f, &r->unified); !s.ok()) return s;
  for (const auto& [key, value] : r->unified) {
    // "<controller>.<file>": a file of the container's own cgroup, never a path.
    bool valid =
        key.find('.') != std::string::npos && key.find('.') > 0 &&
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") == std::string::npos &&
        key.rfind("cgroup.", 0) != 0;
    if (!valid)
      return FieldError(absl::StrCat(f, ".unified.", key), "is not a controller interface file");
    if (value.find('\n') != std::string::npos) {
      return FieldError(absl::StrCat(f, ".unified.", key), "must be a single line");
    }
  }
  if (auto h = j.find("hugepageLimits"); h != j.end()) {
    if (auto s = RequireArray(*h, f + ".hugepageLimits"); !s.ok()) return s;
    for (size_t i = 0; i < h->size(); ++i) {
      const std::string hf = absl::StrCat(f, ".hugepageLimits[", i, "]");
      HugepageLimit limit;
      if (auto s = Get((*h)[i], "pageSize", hf, &limit.page_size); !s.ok()) return s;
      if (auto s = Get((*h)[i], "limit", hf, &limit.limit); !s.ok()) return s;
      bool valid = !limit.page_size.empty() && limit.page_size.size() < 8 &&
                   (absl::EndsWith(limit.page_size, "KB") ||
                    absl::EndsWith(limit.page_size, "MB") || absl::EndsWith(limit.page_size, "GB"));
      for (size_t c = 0; valid && c + 2 < limit.page_size.size(); ++c)
        valid = isdigit(limit.page_size[c]);
      if (!valid)
        return FieldError(hf + ".pageSize",
                          absl::StrCat("\"", limit.page_size, "\" is not like 2MB"));
      r->hugepage_limits.push_back(limit);
    }
  }
  if (auto m = j.find("memory"); m != j.end()) {
    const std::string mf = f + ".memory";
    if (auto s = GetPositive(*m, "limit", mf, &r->memory_limit, true); !s.ok()) return s;
    if (auto s = GetPositive(*m, "reservation", mf, &r->memory_reservation, true); !s.ok())
      return s;
    if (auto s = GetPositive(*m, "swap", mf, &r->memory_swap, true); !s.ok()) return s;
    if (r->memory_limit && r->memory_swap && *r->memory_swap != -1 && *r->memory_limit != -1 &&
        *r->memory_swap < *r->memory_limit) {
      return FieldError(mf + ".swap", "must not be below memory.limit (it counts memory + swap)");
    }
  }
  if (auto c = j.find("cpu"); c != j.end()) {
    const std::string cf = f + ".cpu";
    if (auto s = GetPositive(*c, "shares", cf, &r->cpu_shares); !s.ok()) return s;
    if (auto s = GetPositive(*c, "quota", cf, &r->cpu_quota, true); !s.ok()) return s;
    if (auto s = GetPositive(*c, "period", cf, &r->cpu_period); !s.ok()) return s;
    if (r->cpu_period && (*r->cpu_period < 1000 || *r->cpu_period > 1000000)) {
      return FieldError(cf + ".period", "must be between 1000 and 1000000 microseconds");
    }
    if (r->cpu_quota && *r->cpu_quota != -1 && *r->cpu_quota < 1000) {
      return FieldError(cf + ".quota", "must be at least 1000 microseconds");
    }
    if (auto s = Get(*c, "cpus", cf, &r->cpuset_cpus); !s.ok()) return s;
    if (auto s = Get(*c, "mems", cf, &r->cpuset_mems); !s.ok()) return s;
  }
  if (auto p = j.find("pids"); p != j.end()) {
    if (auto s = GetPositive(*p, "limit", f + ".pids", &r->pids_limit, true); !s.ok()) return s;
  }
  if (auto b = j.find("blockIO"); b != j.end()) {
    std::optional<uint16_t> w;
    if (auto s = GetPositive(*b, "weight", f + ".blockIO", &w); !s.ok()) return s;
    if (w && (*w < 10 || *w > 1000))
      return FieldError(f + ".blockIO.weight", "must be in [10, 1000]");
    r->blkio_weight = w;
  }
  if (auto d = j.find("devices"); d != j.end()) {
    if (auto s = RequireArray(*d, f + ".devices"); !s.ok()) return s;
    for (size_t i = 0; i < d->size(); ++i) {
      const std::string df = absl::StrCat(f, ".devices[", i, "]");
      DeviceRule rule;
      std::string type = "a";
      if (auto s = Get((*d)[i], "allow", df, &rule.allow); !s.ok()) return s;
      if (auto s = Get((*d)[i], "type", df, &type); !s.ok()) return s;
      if (type != "a" && type != "c" && type != "b")
        return FieldError(df + ".type", "must be a, c or b");
      rule.type = type[0];
      if (auto s = Get((*d)[i], "major", df, &rule.major); !s.ok()) return s;
      if (auto s = Get((*d)[i], "minor", df, &rule.minor); !s.ok()) return s;
      rule.access = "rwm";
      if (auto s = Get((*d)[i], "access", df, &rule.access); !s.ok()) return s;
      if (rule.access.find_first_not_of("rwm") != std::string::npos) {
        return FieldError(df + ".access", "must be a subset of rwm");
      }
      r->devices.push_back(rule);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseLinux(const json& j, Spec* spec) {
  const std::string f = "linux";
  if (auto s = RequireObject(j, f); !s.ok()) return s;
  if (auto ns = j.find("namespaces"); ns != j.end()) {
    if (auto s = RequireArray(*ns, "linux.namespaces"); !s.ok()) return s;
    std::set<NamespaceType> seen;
    for (size_t i = 0; i < ns->size(); ++i) {
      const std::string nf = absl::StrCat("linux.namespaces[", i, "]");
      std::string type, path;
      if (auto s = Get((*ns)[i], "type", nf, &type); !s.ok()) return s;
      if (auto s = Get((*ns)[i], "path", nf, &path); !s.ok()) return s;
      auto t = NamespaceByName(type);
      if (!t.ok())
        return FieldError(nf + ".type", absl::StrCat("unknown namespace type \"", type, "\""));
      if (!path.empty() && path[0] != '/') return FieldError(nf + ".path", "must be absolute");
      if (!seen.insert(*t).second)
        return FieldError(nf + ".type", absl::StrCat(type, " given twice"));
      spec->namespaces.push_back({*t, path});
    }
  }
  if (auto m = j.find("uidMappings"); m != j.end()) {
    if (auto s = ParseMappings(*m, "linux.uidMappings", &spec->uid_mappings); !s.ok()) return s;
  }
  if (auto m = j.find("gidMappings"); m != j.end()) {
    if (auto s = ParseMappings(*m, "linux.gidMappings", &spec->gid_mappings); !s.ok()) return s;
  }
  if (auto r = j.find("resources"); r != j.end()) {
    if (auto s = ParseResources(*r, &spec->resources); !s.ok()) return s;
  }
  if (auto s = Get(j, "cgroupsPath", f, &spec->cgroups_path); !s.ok()) return s;
  for (absl::string_view part : absl::StrSplit(spec->cgroups_path, '/')) {
    if (part == "..") return FieldError("linux.cgroupsPath", "must not contain ..");
  }
  if (auto s = Get(j, "sysctl", f, &spec->sysctl); !s.ok()) return s;
  for (const auto& [key, value] : spec->sysctl) {
    if (key.empty() || absl::StrContains(key, "..") || absl::StrContains(key, "/")) {
      return FieldError(absl::StrCat("linux.sysctl.", key), "is not a valid sysctl name");
    }
  }
  if (auto d = j.find("devices"); d != j.end()) {
    if (auto s = RequireArray(*d, "linux.devices"); !s.ok()) return s;
    for (size_t i = 0; i < d->size(); ++i) {
      const std::string df = absl::StrCat("linux.devices[", i, "]");
      Device dev;
      std::string type;
      uint32_t mode = 0666;
      if (auto s = Get((*d)[i], "path", df, &dev.path); !s.ok()) return s;
      if (auto s = Get((*d)[i], "type", df, &type); !s.ok()) return s;
      if (auto s = Get((*d)[i], "major", df, &dev.major); !s.ok()) return s;
      if (auto s = Get((*d)[i], "minor", df, &dev.minor); !s.ok()) return s;
      if (auto s = Get((*d)[i], "fileMode", df, &mode); !s.ok()) return s;
      if (auto s = Get((*d)[i], "uid", df, &dev.uid); !s.ok()) return s;
      if (auto s = Get((*d)[i], "gid", df, &dev.gid); !s.ok()) return s;
      if (!IsCleanAbsolute(dev.path) || !absl::StartsWith(dev.path, "/dev/")) {
        return FieldError(df + ".path", "must be an absolute path under /dev");
      }
      if (type != "c" && type != "b" && type != "u" && type != "p") {
        return FieldError(df + ".type", "must be c, b, u or p");
      }
      dev.type = type[0];
      dev.file_mode = mode & 07777;
      spec->devices.push_back(dev);
    }
  }
  if (auto s = Get(j, "maskedPaths", f, &spec->masked_paths); !s.ok()) return s;
  if (auto s = Get(j, "readonlyPaths", f, &spec->readonly_paths); !s.ok()) return s;
  for (const auto& p : spec->masked_paths) {
    if (!IsCleanAbsolute(p))
      return FieldError("linux.maskedPaths", absl::StrCat(p, " is not a clean absolute path"));
  }
  for (const auto& p : spec->readonly_paths) {
    if (!IsCleanAbsolute(p))
      return FieldError("linux.readonlyPaths", absl::StrCat(p, " is not a clean absolute path"));
  }
  if (auto s = Get(j, "rootfsPropagation", f, &spec->rootfs_propagation); !s.ok()) return s;
  static const std::set<std::string> kPropagation = {"",        "private",    "rprivate",
                                                     "slave",   "rslave",     "shared",
                                                     "rshared", "unbindable", "runbindable"};
  if (!kPropagation.contains(spec->rootfs_propagation)) {
    return FieldError("linux.rootfsPropagation",
                      absl::StrCat("unknown value \"", spec->rootfs_propagation, "\""));
  }
  if (auto sc = j.find("seccomp"); sc != j.end() && !sc->is_null()) {
    auto config = seccomp::ParseConfig(*sc, "linux.seccomp");
    if (!config.ok()) return config.status();
    spec->seccomp = *std::move(config);
  }
  return absl::OkStatus();
}

absl::Status ParseMounts(const json& j, Spec* spec) {
  if (auto s = RequireArray(j, "mounts"); !s.ok()) return s;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string mf = absl::StrCat("mounts[", i, "]");
    if (auto s = RequireObject(j[i], mf); !s.ok()) return s;
    Mount m;
    if (auto s = Get(j[i], "destination", mf, &m.destination); !s.ok()) return s;
    if (auto s = Get(j[i], "type", mf, &m.type); !s.ok()) return s;
    if (auto s = Get(j[i], "source", mf, &m.source); !s.ok()) return s;
    if (auto s = Get(j[i], "options", mf, &m.options); !s.ok()) return s;
    if (!IsCleanAbsolute(m.destination)) {
      return FieldError(
          mf + ".destination",
          absl::StrCat("\"", m.destination, "\" must be an absolute path without .."));
    }
    if (m.destination == "/") return FieldError(mf + ".destination", "must not be /");
    bool bind = m.type == "bind" ||
                std::find(m.options.begin(), m.options.end(), "bind") != m.options.end() ||
                std::find(m.options.begin(), m.options.end(), "rbind") != m.options.end();
    if (bind && (m.source.empty() || m.source[0] != '/')) {
      return FieldError(mf + ".source", "a bind mount needs an absolute source");
    }
    if (m.type.empty() && !bind) return FieldError(mf + ".type", "must be set");
    spec->mounts.push_back(std::move(m));
  }
  return absl::OkStatus();
}

}  // namespace

bool Spec::HasNamespace(NamespaceType type) const {
  for (const auto& ns : namespaces) {
    if (ns.type == type) return true;
  }
  return false;
}

const char* NamespaceTypeName(NamespaceType type) {
  switch (type) {
    case NamespaceType::kMount:
      return "mount";
    case NamespaceType::kPid:
      return "pid";
    case NamespaceType::kUts:
      return "uts";
    case NamespaceType::kIpc:
      return "ipc";
    case NamespaceType::kNetwork:
      return "network";
    case NamespaceType::kCgroup:
      return "cgroup";
    case NamespaceType::kUser:
      return "user";
    case NamespaceType::kTime:
      return "time";
  }
  return "unknown";
}

absl::StatusOr<Spec> ParseSpec(const std::string& json_text, const std::string& bundle) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("config.json: not valid JSON");
  if (auto s = RequireObject(j, "config"); !s.ok()) return s;
  Spec spec;
  if (auto s = Get(j, "ociVersion", "config", &spec.oci_version); !s.ok()) return s;
  if (!absl::StartsWith(spec.oci_version, "1.")) {
    return FieldError("ociVersion",
                      absl::StrCat("\"", spec.oci_version, "\" is not a 1.x version"));
  }
  auto root = j.find("root");
  if (root == j.end()) return FieldError("root", "is required");
  if (auto s = Get(*root, "path", "root", &spec.root_path); !s.ok()) return s;
  if (auto s = Get(*root, "readonly", "root", &spec.root_readonly); !s.ok()) return s;
  if (spec.root_path.empty()) return FieldError("root.path", "is required");
  if (spec.root_path[0] != '/') {
    if (bundle.empty() || bundle[0] != '/') {
      return FieldError("root.path", "is relative and the bundle path is not absolute");
    }
    spec.root_path = absl::StrCat(bundle, "/", spec.root_path);
  }
  for (absl::string_view part : absl::StrSplit(spec.root_path, '/')) {
    if (part == "..") return FieldError("root.path", "must not contain ..");
  }
  auto proc = j.find("process");
  if (proc == j.end()) return FieldError("process", "is required");
  if (auto s = ParseProcess(*proc, &spec.process); !s.ok()) return s;
  if (auto s = Get(j, "hostname", "config", &spec.hostname); !s.ok()) return s;
  if (auto s = Get(j, "domainname", "config", &spec.domainname); !s.ok()) return s;
  if (spec.hostname.size() > 64) return FieldError("hostname", "longer than 64 characters");
  if (auto m = j.find("mounts"); m != j.end()) {
    if (auto s = ParseMounts(*m, &spec); !s.ok()) return s;
  }
  if (auto l = j.find("linux"); l != j.end()) {
    if (auto s = ParseLinux(*l, &spec); !s.ok()) return s;
  }
  if (!spec.hostname.empty() && !spec.HasNamespace(NamespaceType::kUts)) {
    return FieldError("hostname", "needs a new uts namespace");
  }
  if (spec.HasNamespace(NamespaceType::kUser) &&
      (spec.uid_mappings.empty() || spec.gid_mappings.empty())) {
    bool joining = false;
    for (const auto& ns : spec.namespaces) {
      if (ns.type == NamespaceType::kUser && !ns.path.empty()) joining = true;
    }
    if (!joining)
      return FieldError("linux.uidMappings", "a new user namespace needs uid and gid mappings");
  }
  if (auto s = Get(j, "annotations", "config", &spec.annotations); !s.ok()) return s;
  return spec;
}

absl::StatusOr<Spec> LoadSpec(const std::string& bundle) {
  const std::string path = bundle + "/config.json";
  std::ifstream in(path);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSpec(ss.str(), bundle);
}

absl::StatusOr<Resources> ParseLinuxResources(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("linux.resources: not valid JSON");
  Resources r;
  if (auto s = ParseResources(j, &r); !s.ok()) return s;
  return r;
}

std::string MappingText(const std::vector<IdMapping>& maps) {
  std::string out;
  for (const auto& m : maps)
    absl::StrAppend(&out, m.container_id, " ", m.host_id, " ", m.size, "\n");
  return out;
}

}  // namespace kapsel::runtime
