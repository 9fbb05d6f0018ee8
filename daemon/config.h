#pragma once

// kapseld's configuration: the file (/etc/kapsel/kapseld.json, a v1::DaemonConfig in protobuf's
// JSON mapping) merged with command-line flags, checked, and turned into the values the daemon
// runs with. Pure functions apart from LoadConfigFile (reads a file) and ResolveSocketGroup
// (reads the group database); no gRPC.
//
// Errors are InvalidArgument and start with the field they are about ("log_level: ..."), so that
// `kapseld --validate-config` and a failed SIGHUP reload point at the line to fix.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "daemon/log_writer.h"
#include "daemon/ulimits.h"
#include "kapsel/v1/config.pb.h"

namespace kapsel::daemon {

inline constexpr char kDefaultConfigPath[] = "/etc/kapsel/kapseld.json";
inline constexpr char kDefaultSocketGroup[] = "kapsel";
inline constexpr char kDefaultCgroupParent[] = "kapsel";
inline constexpr char kDefaultInitPath[] = "/usr/bin/tini-static";

enum class LogFormat { kText, kJson };

// A listening address for the metrics endpoint.
struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix: absolute socket path
  std::string host;  // kTcp: numeric loopback address, "127.0.0.1" or "::1"
  uint16_t port = 0;
  // As written in the configuration ("unix:/run/kapsel/metrics.sock", "127.0.0.1:9323").
  std::string text;
};

// A default rlimit of container processes, in OCI terms ("RLIMIT_NOFILE").
// The checked configuration, defaults filled in.
struct DaemonSettings {
  std::string data_root;
  std::string exec_root;
  std::string socket_path;
  std::string socket_group;
  bool socket_group_explicit = false;  // set in the file or by a flag, not the default
  std::string log_level;               // spdlog's name: trace, debug, info, warn, error
  LogFormat log_format = LogFormat::kText;
  logs::RotationOptions log_rotation;
  std::string bridge_subnet;
  bool ip_forward = true;
  std::vector<ProcessRlimit> default_ulimits;
  std::vector<std::string> insecure_registries;
  std::optional<ListenAddress> metrics;
  std::string init_path;  // --init's PID 1
  // The containers' cgroups are <cgroup_parent>/<id> in each hierarchy.
  std::string cgroup_parent = kDefaultCgroupParent;
  // USER[:GROUP] or "default": new containers run in a user namespace mapped to that user's
  // subordinate ranges (daemon/userns_remap.h); empty: no remapping.
  std::string userns_remap;
  std::string cni_config_dir = "/etc/cni/net.d";
  std::vector<std::string> cni_plugin_dirs = {"/usr/lib/cni"};
};

// Parses JSON text into a DaemonConfig. Unknown fields and values of the wrong type are errors
// naming the field.
absl::StatusOr<v1::DaemonConfig> ParseConfig(absl::string_view json);

// Reads and parses `path`. A missing file is an empty configuration unless `required` (the path
// was given with --config), when it is an error naming the path.
absl::StatusOr<v1::DaemonConfig> LoadConfigFile(const std::string& path, bool required);

// Fields set in `overrides` (command-line flags) replace those of `config`; a repeated field set
// there replaces the whole list. Message fields merge field by field.
void ApplyOverrides(const v1::DaemonConfig& overrides, v1::DaemonConfig* config);

// Checks every field and fills in the defaults.
absl::StatusOr<DaemonSettings> ResolveSettings(const v1::DaemonConfig& config);

// The configuration with every default written out, so that two of them compare equal when the
// daemon would run the same way. Assumes ResolveSettings accepted `config`.
v1::DaemonConfig Normalize(const v1::DaemonConfig& config);

// Load + ApplyOverrides + ResolveSettings: what kapseld runs with. `normalized` (optional)
// receives Normalize() of the merged configuration.
absl::StatusOr<DaemonSettings> LoadSettings(const std::string& path, bool required,
                                            const v1::DaemonConfig& overrides,
                                            v1::DaemonConfig* normalized = nullptr);

// What a SIGHUP reload does with a changed configuration.
struct ReloadPlan {
  std::vector<std::string> applied;         // changed fields that take effect now
  std::vector<std::string> restart_needed;  // changed fields that need a restart of kapseld
};
// Top-level fields (names as in config.proto) that differ between two normalized configurations,
// split into reloadable (log_level, log_format, log_rotation, insecure_registries, metrics) and
// the rest.
ReloadPlan PlanReload(const v1::DaemonConfig& running, const v1::DaemonConfig& fresh);
// Copies the fields named in `plan.applied` from `fresh` to `running`: what the daemon runs with
// after the reload. Fields that need a restart keep their running values (and are reported again
// by the next reload).
void ApplyReload(const ReloadPlan& plan, const v1::DaemonConfig& fresh, v1::DaemonConfig* running);

// "20m", "512k", "1g", "4096": bytes, binary units (k = 1024), optional "b"/"ib" suffix.
absl::StatusOr<int64_t> ParseByteSize(absl::string_view text);

// "unix:/abs/path", "127.0.0.1:9323", "[::1]:9323", "localhost:9323". Refuses addresses that are
// not loopback.
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

// The gid of the socket group: NotFound when the group does not exist. kapseld refuses to start
// when an explicitly configured group is missing; a missing default group means root only.
absl::StatusOr<uint32_t> ResolveSocketGroup(const std::string& name);

}  // namespace kapsel::daemon
