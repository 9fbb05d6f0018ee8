#pragma once

// Runs CNI plugins for a network configuration list, per the CNI specification 1.0.0
// (github.com/containernetworking/cni, SPEC.md, sections 1-3 and 5), as libcni does, in C++.
//
// kapsel is the "runtime" of the spec: it finds the list by name in a configuration directory,
// executes each plugin binary with the CNI_* environment and the derived execution configuration
// on stdin, chains the results through `prevResult`, and caches the final ADD result together with
// the list it used so that DEL and CHECK work the same way even after the file on disk changed.
//
// Plugins are started with posix_spawn(3), never fork(2): the daemon is multithreaded. Every
// function here blocks the calling thread while plugins run (each for at most
// CniOptions::plugin_timeout) and is thread-safe for different (network, container_id) pairs;
// calls for the same pair must be serialised by the caller, as the spec requires of runtimes.
//
// Accepted cniVersion values: 0.3.0, 0.3.1, 0.4.0 and 1.0.0 (the rich result format). CHECK needs
// 0.4.0 or later.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace kapsel::network {

struct CniOptions {
  // Where the network configuration files (*.conflist, *.conf, *.json) are.
  std::string conf_dir = "/etc/cni/net.d";
  // Searched in order for the plugin binaries; also passed to plugins as CNI_PATH.
  std::vector<std::string> plugin_dirs = {"/usr/lib/cni"};
  // Where ADD results are kept for DEL and CHECK, as <network>-<container_id>.json (mode 0600),
  // e.g. /var/lib/kapsel/cni. Required; created (0700) when missing.
  std::string cache_dir;
  // Each plugin execution is killed (SIGKILL to its process group) after this long.
  absl::Duration plugin_timeout = absl::Seconds(60);
};

// A parsed network configuration list (spec section 1). `plugins` keeps every plugin
// configuration object as written, so that plugin-specific keys reach the plugin unchanged.
struct CniNetworkList {
  std::string cni_version;
  std::string name;
  bool disable_check = false;
  std::vector<nlohmann::json> plugins;  // each an object with a string "type"
  std::string source;                   // the file it was read from ("" when cached)

  // The list as a .conflist JSON object.
  nlohmann::json ToJson() const;
};

// What ADD produced: the first IPv4 address of the final result and the interface it is on.
struct CniResult {
  std::string interface;  // inside the namespace, e.g. "eth0"; `ifname` when the result omits it
  std::string address;    // "10.88.0.5"; "" when the result has no IPv4 address
  int prefix_length = 0;  // 24 for a /24; 0 without an address
  std::string gateway;    // "10.88.0.1"; "" when none
  std::string raw_json;   // the final result exactly as the last plugin printed it
};

// Parses and validates one configuration file's text. A single-plugin configuration (.conf: an
// object with "type" and no "plugins") is wrapped into a one-plugin list, as libcni's
// ConfListFromConf does. InvalidArgument naming `source` and what is wrong: bad JSON, a missing or
// non-string cniVersion/name/type, an unsupported cniVersion, an empty or non-array "plugins", a
// non-boolean "disableCheck", a name that is not [A-Za-z0-9_.-]+, a type that is not a plain file
// name.
absl::StatusOr<CniNetworkList> ParseNetworkList(const std::string& text, const std::string& source);

// Finds the network list named `name` in `conf_dir`: the first *.conflist, *.conf or *.json file,
// in lexical order of file names, whose "name" equals `name`, parsed with ParseNetworkList.
// Errors: NotFound `CNI network "x" not found in <conf_dir>` when no file has that name (also when
// `conf_dir` does not exist); InvalidArgument naming the file when a file before the match (or the
// match itself) cannot be parsed or lacks a name, or the match is invalid; other codes from
// opendir/read errors, with errno and the path. Files with another name are not validated.
absl::StatusOr<CniNetworkList> LoadNetworkList(const std::string& conf_dir,
                                               const std::string& name);

// Parses a plugin's success output (spec section 5) into a CniResult: the first IPv4 entry of
// "ips" (by "address" containing no ':'), its "gateway", and the name of the interface it refers to
// (falling back to `ifname`). InvalidArgument when `raw` is not a JSON object or an "ips" entry is
// malformed. `raw_json` is set to `raw`.
absl::StatusOr<CniResult> ParseCniResult(const std::string& raw, const std::string& ifname);

// Turns a failed plugin execution into a Status: `CNI plugin <type> (network "<network>")
// <command> failed: code <code>: <msg>: <details>` when `stdout_text` is the spec's error object,
// else the exit status and whatever the plugin printed; `stderr_text` (bounded) is appended when
// not empty. Code mapping: CNI error code 3 (unknown container) -> NotFound, 11 (try again later)
// -> Unavailable, everything else -> Internal.
absl::Status CniPluginError(const std::string& type, const std::string& network,
                            const std::string& command, int wait_status,
                            const std::string& stdout_text, const std::string& stderr_text);

// Attaches container `container_id` to `network`: runs each plugin's ADD in list order, each with
// the previous plugin's result as prevResult, CNI_NETNS=`netns_path`, CNI_IFNAME=`ifname`. On
// success the final result and the list are cached atomically (cache_dir/<network>-<id>.json).
// On any failure, DEL runs for the failing plugin and every plugin before it, in reverse order and
// best effort, so that nothing is left half-made, and the first error is returned.
// Errors: InvalidArgument for an empty cache_dir, a network or container id that is not
// [A-Za-z0-9_.-]+, an ifname that is not a valid interface name, or an empty netns_path; errors of
// LoadNetworkList; AlreadyExists when a cached result for the pair exists (DEL it first);
// FailedPrecondition `CNI plugin "<type>" not found in <dirs>` when no plugin dir has an executable
// of the type; DeadlineExceeded when a plugin ran past plugin_timeout; CniPluginError's codes for a
// plugin that failed; Internal for a plugin that printed no result or a malformed one; errno
// statuses with the path for spawn, pipe or cache-file failures.
absl::StatusOr<CniResult> CniAdd(const CniOptions& options, const std::string& network,
                                 const std::string& container_id, const std::string& netns_path,
                                 const std::string& ifname);

// Detaches the container: runs each plugin's DEL in reverse list order with the cached ADD result
// as prevResult, using the cached list when there is one, else the current list from conf_dir
// (without prevResult). Every plugin runs even when one fails; the cache file is removed only when
// all succeeded, so DEL can be retried. Idempotent: OK when there is neither a cache file nor a
// list of that name. `netns_path` may be empty or gone: CNI_NETNS is then passed empty, as the spec
// allows for DEL. A damaged cache file is treated as missing. Errors: InvalidArgument as for
// CniAdd; errors of LoadNetworkList other than NotFound; FailedPrecondition for a missing plugin
// binary; the first plugin failure (as for CniAdd); errno statuses for the cache file.
absl::Status CniDel(const CniOptions& options, const std::string& network,
                    const std::string& container_id, const std::string& netns_path,
                    const std::string& ifname);

// Checks the attachment: runs each plugin's CHECK in list order with the cached list and the cached
// ADD result as prevResult. OK without running anything when the list sets disableCheck.
// Errors: InvalidArgument as for CniAdd; NotFound when there is no cached result for the pair;
// DataLoss when the cache file is damaged; FailedPrecondition when the list's cniVersion is older
// than 0.4.0 or a plugin binary is missing; the first plugin failure (as for CniAdd).
absl::Status CniCheck(const CniOptions& options, const std::string& network,
                      const std::string& container_id, const std::string& netns_path,
                      const std::string& ifname);

// What the last ADD for the pair gave, from its cache file, without running a plugin. NotFound when
// nothing is cached; DataLoss when the cache file is damaged.
absl::StatusOr<CniResult> CniCachedResult(const CniOptions& options, const std::string& network,
                                          const std::string& container_id,
                                          const std::string& ifname);

}  // namespace kapsel::network
