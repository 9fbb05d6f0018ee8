#pragma once

// The OCI runtime-spec 1.x configuration (config.json) as the runtime core uses it. Parse() checks
// every field it knows and names the offending one in its error: an accepted Spec is valid.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/seccomp/config.h"

namespace kapsel::runtime {

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additional_gids;
  std::optional<mode_t> umask;
};

struct Rlimit {
  int resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Capability sets as bitmasks of CAP_* numbers.
struct Capabilities {
  uint64_t bounding = 0;
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t ambient = 0;
};

struct Process {
  bool terminal = false;
  std::vector<std::string> args;
  std::vector<std::string> env;  // KEY=VALUE
  std::string cwd = "/";
  User user;
  std::vector<Rlimit> rlimits;
  std::optional<Capabilities> capabilities;  // unset: keep the launcher's (full) set
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
};

struct Mount {
  std::string destination;  // absolute path inside the container
  std::string type;         // proc, tmpfs, bind, sysfs, devpts, mqueue, cgroup, ...
  std::string source;
  std::vector<std::string> options;
};

enum class NamespaceType { kMount, kPid, kUts, kIpc, kNetwork, kCgroup, kUser, kTime };

struct Namespace {
  NamespaceType type;
  std::string path;  // join this namespace when set, else create a new one
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;
};

// The text of a uid_map or gid_map file for `maps` (user_namespaces(7)): one
// "inside outside count" line each.
std::string MappingText(const std::vector<IdMapping>& maps);

struct Device {
  std::string path;  // absolute, inside the container
  char type = 'c';   // c, b, u or p
  int64_t major = 0;
  int64_t minor = 0;
  mode_t file_mode = 0666;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct DeviceRule {
  bool allow = false;
  char type = 'a';     // a, c or b
  int64_t major = -1;  // -1 = any
  int64_t minor = -1;  // -1 = any
  std::string access;  // subset of "rwm"
};

struct HugepageLimit {
  std::string page_size;  // "2MB", "1GB": the kernel's hugetlb.<size> file names
  uint64_t limit = 0;     // bytes
};

struct Resources {
  std::optional<int64_t> memory_limit;        // bytes
  std::optional<int64_t> memory_reservation;  // bytes
  std::optional<int64_t> memory_swap;         // bytes, memory + swap; -1 unlimited
  std::optional<uint64_t> cpu_shares;
  std::optional<int64_t> cpu_quota;    // microseconds per period
  std::optional<uint64_t> cpu_period;  // microseconds
  std::string cpuset_cpus;
  std::string cpuset_mems;
  std::optional<int64_t> pids_limit;
  std::optional<uint16_t> blkio_weight;
  std::vector<DeviceRule> devices;
  std::vector<HugepageLimit> hugepage_limits;
  // cgroup v2 interface files written as given ("memory.oom.group": "1"); refused on v1.
  std::map<std::string, std::string> unified;
};

struct Spec {
  std::string oci_version;
  std::string root_path;  // absolute, or relative to the bundle before Parse() resolves it
  bool root_readonly = false;
  std::string hostname;
  std::string domainname;
  Process process;
  std::vector<Mount> mounts;
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  std::vector<Device> devices;
  Resources resources;
  std::string cgroups_path;
  std::map<std::string, std::string> sysctl;
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  std::string rootfs_propagation;  // private (default), rprivate, slave, rslave, shared, rshared
  std::optional<seccomp::Config> seccomp;  // linux.seccomp; unset: no filter
  std::map<std::string, std::string> annotations;

  bool HasNamespace(NamespaceType type) const;
};

// Parses and validates config.json text. Relative root.path values are resolved against bundle.
absl::StatusOr<Spec> ParseSpec(const std::string& json_text, const std::string& bundle);
// Reads <bundle>/config.json and parses it.
absl::StatusOr<Spec> LoadSpec(const std::string& bundle);
// Parses config.json's linux.resources object alone (an update of a running container's limits).
absl::StatusOr<Resources> ParseLinuxResources(const std::string& json_text);

const char* NamespaceTypeName(NamespaceType type);

}  // namespace kapsel::runtime
