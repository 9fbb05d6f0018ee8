#include "daemon/oci_spec_builder.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/bind_mount_check.h"
#include "daemon/security_options.h"

namespace kapsel::daemon {
namespace {

using nlohmann::json;

std::vector<std::string> StringList(const json& obj, const char* key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// Merges KEY=VALUE lists: later entries replace earlier ones with the same key.
std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::vector<std::string>& over) {
  std::vector<std::string> out = base;
  for (const auto& e : over) {
    std::string key = e.substr(0, e.find('='));
    bool replaced = false;
    for (auto& o : out) {
      if (o.substr(0, o.find('=')) == key) {
        o = e;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(e);
  }
  return out;
}

// Finds a name in a passwd/group style file (name:x:id:...). Returns the fields.
bool LookupEntry(const std::string& file, const std::string& name,
                 std::vector<std::string>* fields) {
  for (absl::string_view line : absl::StrSplit(file, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ':');
    if (f.size() >= 3 && f[0] == name) {
      *fields = std::move(f);
      return true;
    }
  }
  return false;
}

// The bind mounts of -v, checked before anything is made (CheckBindMount), each destination once.
absl::StatusOr<json> VolumeMounts(const v1::ContainerSpec& req) {
  json out = json::array();
  std::set<std::string> seen;
  for (const v1::MountSpec& m : req.mounts()) {
    const std::string& host = m.host_path();
    std::string where = absl::StrCat("volume ", host, ":", m.container_path());
    absl::StatusOr<std::string> checked = CheckBindMount(m, where);
    if (!checked.ok()) return checked.status();
    const std::string& dest = *checked;
    if (!seen.insert(dest).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", dest, " is mounted twice"));
    }
    const std::string& propagation = m.propagation();
    out.push_back({{"destination", dest},
                   {"type", "bind"},
                   {"source", host},
                   {"options",
                    {m.recursive() ? "rbind" : "bind",
                     // Read-only reaches the submounts of an rbind too (Docker 25 does so).
                     m.read_only() ? (m.recursive() ? "rro" : "ro") : "rw",
                     propagation.empty() ? "rprivate" : propagation}}});
  }
  return out;
}

// The --tmpfs mounts, sorted so that a parent is mounted before what lies under it. Docker's
// defaults (rw, nosuid, nodev, noexec) unless the options say otherwise; the destination must
// not be taken by a -v volume.
absl::StatusOr<json> TmpfsMounts(const v1::ContainerSpec& req, const json& volumes) {
  // Flag options and the one each replaces; data options are checked by value.
  static const std::map<std::string, std::string> kFlagOpposites = {
      {"rw", "ro"},
      {"ro", "rw"},
      {"suid", "nosuid"},
      {"nosuid", "suid"},
      {"dev", "nodev"},
      {"nodev", "dev"},
      {"exec", "noexec"},
      {"noexec", "exec"},
      {"sync", "async"},
      {"async", "sync"},
      {"atime", "noatime"},
      {"noatime", "atime"},
      {"relatime", "norelatime"},
      {"norelatime", "relatime"},
      {"strictatime", "nostrictatime"},
      {"nostrictatime", "strictatime"},
      {"diratime", "nodiratime"},
      {"nodiratime", "diratime"},
      {"dirsync", ""},
  };
  std::set<std::string> taken;
  for (const json& v : volumes) taken.insert(v["destination"].get<std::string>());
  std::map<std::string, std::string> sorted(req.tmpfs().begin(), req.tmpfs().end());
  json out = json::array();
  for (const auto& [dest, options] : sorted) {
    const std::string where = absl::StrCat("tmpfs ", dest);
    if (dest.empty() || dest[0] != '/' || dest == "/" ||
        std::filesystem::path(dest).lexically_normal().string() != dest ||
        absl::StrContains(dest, "/../") || absl::EndsWith(dest, "/..")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the destination must be a clean absolute path other than /"));
    }
    if (taken.count(dest) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", dest, " is mounted twice"));
    }
    std::vector<std::string> flags = {"rw", "nosuid", "nodev", "noexec"};
    std::map<std::string, std::string> data;
    for (absl::string_view opt : absl::StrSplit(options, ',', absl::SkipEmpty())) {
      const std::string o(opt);
      if (auto it = kFlagOpposites.find(o); it != kFlagOpposites.end()) {
        flags.erase(std::remove(flags.begin(), flags.end(), it->second), flags.end());
        if (std::find(flags.begin(), flags.end(), o) == flags.end()) flags.push_back(o);
        continue;
      }
      std::vector<std::string> kv = absl::StrSplit(o, absl::MaxSplits('=', 1));
      const std::string& key = kv[0];
      const std::string value = kv.size() == 2 ? kv[1] : "";
      bool valid = kv.size() == 2 && !value.empty();
      if (key == "size") {
        // Bytes with an optional k, m or g, or a percentage of RAM, as tmpfs(5) takes it.
        size_t digits = value.find_first_not_of("0123456789");
        valid = valid && digits != 0 &&
                (digits == std::string::npos ||
                 (digits == value.size() - 1 && absl::StrContains("kKmMgG%", value.back())));
      } else if (key == "mode") {
        valid =
            valid && value.size() <= 4 && value.find_first_not_of("01234567") == std::string::npos;
      } else if (key == "uid" || key == "gid" || key == "nr_inodes" || key == "nr_blocks") {
        uint64_t n;
        valid = valid && absl::SimpleAtoi(value, &n);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": unknown option \"", o,
            "\" (flags like ro, exec, suid, dev; size=, mode=, uid=, gid=, nr_inodes=)"));
      }
      if (!valid) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": bad value in \"", o, "\""));
      }
      data[key] = value;
    }
    for (const auto& [key, value] : data) flags.push_back(absl::StrCat(key, "=", value));
    taken.insert(dest);
    out.push_back(
        {{"destination", dest}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", flags}});
  }
  return out;
}

}  // namespace

const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return kCaps;
}

std::vector<std::string> ResolveCommand(const v1::ContainerSpec& request,
                                        const json& image_config) {
  std::vector<std::string> entrypoint(request.entrypoint().begin(), request.entrypoint().end());
  std::vector<std::string> cmd(request.cmd().begin(), request.cmd().end());
  if (request.entrypoint_size() == 0) entrypoint = StringList(image_config, "Entrypoint");
  // As in Docker, a new entrypoint drops the image's Cmd.
  if (request.cmd_size() == 0 && request.entrypoint_size() == 0)
    cmd = StringList(image_config, "Cmd");
  std::vector<std::string> out = entrypoint;
  out.insert(out.end(), cmd.begin(), cmd.end());
  return out;
}

std::string HomeOf(uint32_t uid, const std::string& passwd) {
  for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ':');
    uint32_t v;
    if (f.size() >= 6 && absl::SimpleAtoi(f[2], &v) && v == uid && absl::StartsWith(f[5], "/")) {
      return f[5];
    }
  }
  return uid == 0 ? "/root" : "/";
}

absl::Status ResolveUser(const std::string& user, const std::string& passwd,
                         const std::string& group, uint32_t* uid, uint32_t* gid,
                         std::vector<uint32_t>* additional_gids) {
  *uid = 0;
  *gid = 0;
  additional_gids->clear();
  if (user.empty()) return absl::OkStatus();
  std::vector<std::string> parts = absl::StrSplit(user, absl::MaxSplits(':', 1));
  const std::string& u = parts[0];
  bool gid_given = parts.size() == 2;
  std::vector<std::string> fields;
  if (absl::SimpleAtoi(u, uid)) {
    // A numeric uid need not exist in /etc/passwd; its primary group is taken from there if so.
    for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ':');
      uint32_t v;
      if (f.size() >= 4 && absl::SimpleAtoi(f[2], &v) && v == *uid)
        (void)absl::SimpleAtoi(f[3], gid);
    }
  } else if (LookupEntry(passwd, u, &fields) && fields.size() >= 4) {
    if (!absl::SimpleAtoi(fields[2], uid) || !absl::SimpleAtoi(fields[3], gid)) {
      return absl::InvalidArgumentError(absl::StrCat("user ", u, ": malformed /etc/passwd entry"));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("user \"", u, "\" not found in the image's /etc/passwd"));
  }
  if (gid_given) {
    const std::string& g = parts[1];
    if (!absl::SimpleAtoi(g, gid)) {
      if (!LookupEntry(group, g, &fields) || !absl::SimpleAtoi(fields[2], gid)) {
        return absl::InvalidArgumentError(
            absl::StrCat("group \"", g, "\" not found in the image's /etc/group"));
      }
    }
  } else {
    // Supplementary groups: every group that lists the user by name.
    std::string name = u;
    for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ':');
      uint32_t v;
      if (f.size() >= 3 && absl::SimpleAtoi(f[2], &v) && v == *uid) name = f[0];
    }
    for (absl::string_view line : absl::StrSplit(group, '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ':');
      if (f.size() < 4) continue;
      for (absl::string_view member : absl::StrSplit(f[3], ',', absl::SkipEmpty())) {
        uint32_t g;
        if (member == name && absl::SimpleAtoi(f[2], &g) && g != *gid)
          additional_gids->push_back(g);
      }
    }
  }
  return absl::OkStatus();
}

std::string HostsFile(const std::string& hostname, const std::string& address) {
  return absl::StrCat("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                      address.empty() ? "127.0.1.1" : address, "\t", hostname, "\n");
}

absl::StatusOr<std::string> ExtraHostsLines(
    const google::protobuf::RepeatedPtrField<std::string>& extra_hosts,
    const std::string& gateway) {
  std::string out;
  for (const std::string& entry : extra_hosts) {
    // NAME=IP, else NAME:IP split at the first ':' (Docker's form; the rest may be IPv6).
    size_t sep = entry.find('=');
    if (sep == std::string::npos) sep = entry.find(':');
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("--add-host \"", entry, "\": ", why, " (want NAME:IP)"));
    };
    if (sep == std::string::npos) return bad("no ':' between name and address");
    const std::string name = entry.substr(0, sep);
    std::string address = entry.substr(sep + 1);
    bool name_ok = !name.empty() && name.size() <= 253 && name.front() != '-' &&
                   name.front() != '.' && name.back() != '.';
    for (char c : name) name_ok = name_ok && (absl::ascii_isalnum(c) || c == '-' || c == '.');
    if (!name_ok) return bad("the name must be a host name: letters, digits, '-' and '.'");
    if (address == "host-gateway") {
      if (gateway.empty()) return bad("host-gateway needs a bridge network with a gateway");
      address = gateway;
    }
    // IPv6 in brackets is accepted too.
    if (address.size() > 2 && address.front() == '[' && address.back() == ']') {
      address = address.substr(1, address.size() - 2);
    }
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, address.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, address.c_str(), buf) != 1) {
      return bad(absl::StrCat("\"", address, "\" is not an IPv4 or IPv6 address"));
    }
    absl::StrAppend(&out, address, "\t", name, "\n");
  }
  return out;
}

std::string ResolvConf(const std::string& host_resolv_conf) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(host_resolv_conf, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() >= 2 && f[0] == "nameserver" &&
        (absl::StartsWith(f[1], "127.") || f[1] == "::1")) {
      continue;
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<json> ResourceLimitsJson(const v1::Resources& r) {
  json resources = json::object();
  if (r.memory_limit_bytes() < 0) return absl::InvalidArgumentError("memory: must not be negative");
  if (r.memory_limit_bytes() > 0) {
    if (r.memory_limit_bytes() < 6 * 1024 * 1024) {
      return absl::InvalidArgumentError("memory: the minimum limit is 6MB");
    }
    resources["memory"]["limit"] = r.memory_limit_bytes();
    // Docker's default: swap equal to the memory limit unless given (memory + swap = 2 x limit).
    if (r.memory_swap_bytes() != 0) resources["memory"]["swap"] = r.memory_swap_bytes();
  }
  if (r.cpus() < 0) return absl::InvalidArgumentError("cpus: must not be negative");
  if (r.cpus() > 0) {
    resources["cpu"]["period"] = 100000;
    resources["cpu"]["quota"] = static_cast<int64_t>(std::llround(r.cpus() * 100000));
  }
  if (r.cpu_shares() > 0) resources["cpu"]["shares"] = r.cpu_shares();
  if (!r.cpuset_cpus().empty()) resources["cpu"]["cpus"] = r.cpuset_cpus();
  if (r.pids_limit() < 0) return absl::InvalidArgumentError("pids-limit: must not be negative");
  if (r.pids_limit() > 0) resources["pids"]["limit"] = r.pids_limit();
  return resources;
}

absl::StatusOr<json> BuildOciSpec(const SpecInputs& in) {
  const v1::ContainerSpec& req = *in.request;
  const json& img = *in.image_config;
  std::vector<std::string> args = ResolveCommand(req, img);
  if (args.empty())
    return absl::InvalidArgumentError("no command specified: the image has no Cmd or Entrypoint");
  // --init: tini as PID 1 runs the command as its child, forwards signals and reaps zombies.
  if (!in.init_path.empty()) args.insert(args.begin(), {kInitPath, "--"});

  std::vector<std::string> env = StringList(img, "Env");
  bool has_path = false;
  for (const auto& e : env) has_path |= absl::StartsWith(e, "PATH=");
  if (!has_path)
    env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (int i = 0; i < req.env_size(); ++i) {
    const std::string& e = req.env(i);
    if (e.empty() || e[0] == '=' || e.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("env \"", e, "\": must be KEY=VALUE"));
    }
  }
  env = MergeEnv(env, std::vector<std::string>(req.env().begin(), req.env().end()));
  std::string hostname = req.hostname().empty() ? in.id.substr(0, 12) : req.hostname();
  env = MergeEnv(env, {absl::StrCat("HOSTNAME=", hostname)});
  if (hostname.size() > 64)
    return absl::InvalidArgumentError("hostname: longer than 64 characters");

  std::string cwd = req.working_dir().empty() ? img.value("WorkingDir", "") : req.working_dir();
  if (cwd.empty()) cwd = "/";
  if (cwd[0] != '/')
    return absl::InvalidArgumentError(absl::StrCat("working dir \"", cwd, "\": must be absolute"));

  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;
  std::string user = req.user().empty() ? img.value("User", "") : req.user();
  if (auto s = ResolveUser(user, in.rootfs_etc_passwd, in.rootfs_etc_group, &uid, &gid, &groups);
      !s.ok()) {
    return s;
  }
  const bool is_root = uid == 0;
  bool has_home = false;
  for (const auto& e : env) has_home |= absl::StartsWith(e, "HOME=");
  if (!has_home) env.push_back("HOME=" + HomeOf(uid, in.rootfs_etc_passwd));

  const v1::SecurityOptions& security = req.security();
  const bool privileged = security.privileged();
  auto container_caps = ContainerCapabilities(security, DefaultCapabilities());
  if (!container_caps.ok()) return container_caps.status();
  const std::vector<std::string>& caps = *container_caps;
  auto seccomp = SeccompSection(security, caps);
  if (!seccomp.ok()) return seccomp.status();
  // kapsel's default is stricter than Docker's: no_new_privs unless turned off explicitly.
  const bool no_new_privileges =
      security.has_no_new_privileges() ? security.no_new_privileges() : true;
  json process = {
      {"terminal", req.tty()},
      {"args", args},
      {"env", env},
      {"cwd", cwd},
      {"user", {{"uid", uid}, {"gid", gid}, {"additionalGids", groups}}},
      // A non-root user keeps the bounding set but gets no effective capabilities, as in Docker.
      {"capabilities",
       {{"bounding", caps},
        {"effective", is_root ? caps : std::vector<std::string>{}},
        {"permitted", is_root ? caps : std::vector<std::string>{}},
        // Never raised (CVE-2022-29162): inheritable capabilities would survive an execve of a
        // file with inheritable file capabilities even for a non-root user.
        {"inheritable", std::vector<std::string>{}},
        {"ambient", std::vector<std::string>{}}}},
      {"noNewPrivileges", no_new_privileges},
      // Explicit, as Docker does: kapseld runs with OOMScoreAdjust=-500 (systemd/kapseld.service),
      // which its shims and, without this, every container process would inherit.
      {"oomScoreAdj", 0},
  };
  if (!in.rlimits.empty()) {
    json rlimits = json::array();
    for (const ProcessRlimit& r : in.rlimits) {
      rlimits.push_back({{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}});
    }
    process["rlimits"] = rlimits;
  }

  json mounts = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", privileged ? "rw" : "ro"}}},
      {{"destination", "/sys/fs/cgroup"},
       {"type", "cgroup"},
       {"source", "cgroup"},
       {"options", {"nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"}}},
  });

  if (!in.etc_files_dir.empty()) {
    for (const char* f : {"hostname", "hosts", "resolv.conf"}) {
      mounts.push_back({{"destination", absl::StrCat("/etc/", f)},
                        {"type", "bind"},
                        {"source", absl::StrCat(in.etc_files_dir, "/", f)},
                        {"options", {"rbind", "rprivate", "nosuid", "nodev", "noexec"}}});
    }
  }

  absl::StatusOr<json> volumes = VolumeMounts(req);
  if (!volumes.ok()) return volumes.status();
  absl::StatusOr<json> tmpfs = TmpfsMounts(req, *volumes);
  if (!tmpfs.ok()) return tmpfs.status();
  for (json& v : *volumes) mounts.push_back(std::move(v));
  for (json& t : *tmpfs) mounts.push_back(std::move(t));
  if (!in.init_path.empty()) {
    // --init: the static init, read-only on the container's own /dev tmpfs, so that neither the
    // image nor a read-only rootfs is touched, and no write reaches the host binary.
    mounts.push_back({{"destination", kInitPath},
                      {"type", "bind"},
                      {"source", in.init_path},
                      {"options", {"bind", "ro", "nosuid", "nodev", "rprivate"}}});
  }

  json namespaces = json::array({{{"type", "pid"}},
                                 {{"type", "mount"}},
                                 {{"type", "uts"}},
                                 {{"type", "ipc"}},
                                 {{"type", "cgroup"}}});
  // The daemon made the network namespace before start (NetworkManager::Prepare); the container
  // joins it by path. --network host: no network namespace, the host's stack.
  if (!in.host_network) {
    json network = {{"type", "network"}};
    if (!in.netns_path.empty()) network["path"] = in.netns_path;
    namespaces.push_back(std::move(network));
  }
  if (!in.userns_path.empty()) {
    namespaces.push_back({{"type", "user"}, {"path", in.userns_path}});
  }

  absl::StatusOr<json> limits = ResourceLimitsJson(req.resources());
  if (!limits.ok()) return limits.status();
  json resources = *std::move(limits);
  // Device access: deny all, then allow what Docker allows (the nodes made in /dev, ptys, tun).
  json dev_rules = json::array({{{"allow", false}, {"access", "rwm"}}});
  auto allow = [&](const char* type, int64_t major, int64_t minor, const char* access) {
    json rule = {{"allow", true}, {"type", type}, {"access", access}};
    if (major >= 0) rule["major"] = major;
    if (minor >= 0) rule["minor"] = minor;
    dev_rules.push_back(rule);
  };
  allow("c", -1, -1, "m");
  allow("b", -1, -1, "m");
  allow("c", 1, 3, "rwm");     // null
  allow("c", 1, 5, "rwm");     // zero
  allow("c", 1, 7, "rwm");     // full
  allow("c", 1, 8, "rwm");     // random
  allow("c", 1, 9, "rwm");     // urandom
  allow("c", 5, 0, "rwm");     // tty
  allow("c", 5, 1, "rwm");     // console
  allow("c", 5, 2, "rwm");     // ptmx
  allow("c", 136, -1, "rwm");  // pts
  allow("c", 10, 200, "rwm");  // tun
  // --privileged: every device, as in Docker.
  if (privileged) dev_rules = json::array({{{"allow", true}, {"access", "rwm"}}});
  resources["devices"] = dev_rules;

  json linux_obj = {
      {"namespaces", namespaces},
      {"resources", resources},
      {"cgroupsPath", absl::StrCat(in.cgroup_parent, "/", in.id)},
      {"maskedPaths",
       {"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
        "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"rootfsPropagation", "private"},
  };
  if (privileged) {
    // Spelled out for reviewers: --privileged masks nothing and leaves /proc writable.
    linux_obj["maskedPaths"] = json::array();
    linux_obj["readonlyPaths"] = json::array();
    json devices = json::array();
    for (const HostDevice& d : in.host_devices) {
      devices.push_back({{"path", d.path},
                         {"type", std::string(1, d.type)},
                         {"major", d.major},
                         {"minor", d.minor},
                         {"fileMode", d.file_mode},
                         {"uid", d.uid},
                         {"gid", d.gid}});
    }
    linux_obj["devices"] = devices;
  }
  if (!seccomp->is_null()) linux_obj["seccomp"] = *seccomp;
  if (!in.userns_path.empty()) {
    auto maps = [](const std::vector<runtime::IdMapping>& from) {
      json out = json::array();
      for (const runtime::IdMapping& m : from) {
        out.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
      }
      return out;
    };
    linux_obj["uidMappings"] = maps(in.uid_mappings);
    linux_obj["gidMappings"] = maps(in.gid_mappings);
  }

  json annotations = json::object();
  for (const auto& [k, v] : req.labels()) annotations[k] = v;

  json spec = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", in.rootfs}, {"readonly", req.read_only_rootfs()}}},
      {"hostname", hostname},
      {"process", process},
      {"mounts", mounts},
      {"linux", linux_obj},
      {"annotations", annotations},
  };
  return spec;
}

}  // namespace kapsel::daemon
