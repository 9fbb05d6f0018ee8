#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kapsel/v1/containers.pb.h"

// Pure parsers for kapselctl's arguments. None of them touches the terminal or the daemon; the
// environment is passed in, so every one is unit-tested. Errors are InvalidArgument and name the
// offending value.
namespace kapsel::client {

// Looks up an environment variable of the client process; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// getenv(3) of this process.
EnvLookup ProcessEnvironment();

// One -e argument. "K=V" is taken as is (V may be empty or contain '='); "K" takes K's value from
// `env` and yields nullopt when K is unset there, as docker drops it. An empty name is an error.
absl::StatusOr<std::optional<std::string>> ParseEnvVar(absl::string_view arg, const EnvLookup& env);
// All -e arguments, in order, without the dropped ones.
absl::StatusOr<std::vector<std::string>> ParseEnvVars(const std::vector<std::string>& args,
                                                      const EnvLookup& env);

// One -l argument: "k=v", or "k" for an empty value.
absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(absl::string_view arg);

// name[:tag][@sha256:<hex>], where name is [domain[:port]/]component[/component...] and the
// components are lower-case. A reference without tag and digest gets the tag "latest".
struct ImageReference {
  std::string name;
  std::string tag;
  std::string digest;

  // name:tag, name@digest or name:tag@digest.
  std::string String() const;
};
absl::StatusOr<ImageReference> ParseImageReference(absl::string_view ref);

// Memory sizes like docker's: a number (fractions allowed) with an optional binary unit b, k, m,
// g, t, p (case-insensitive, optionally followed by "b" or "ib"): "512k", "100m", "1g",
// "1.5GiB", "1024" (bytes). Returns bytes.
absl::StatusOr<int64_t> ParseMemorySize(absl::string_view value);

// A signal by name ("KILL", "SIGTERM", "sigusr1", "RTMIN+3") or number ("9"). Returns the number.
absl::StatusOr<int> ParseSignal(absl::string_view value);
// The form sent to the daemon: the name without "SIG" when the signal has one ("KILL"), else the
// decimal number.
absl::StatusOr<std::string> NormalizeSignal(absl::string_view value);

// Reads a file of the client's host (a seccomp profile); errors name the path.
using FileReader = std::function<absl::StatusOr<std::string>(const std::string& path)>;

// Reads files of this process's filesystem.
FileReader LocalFiles();

// --security-opt values, as docker spells them: "seccomp=unconfined", "seccomp=PROFILE.json" (the
// file is read with `files` and its JSON sent), "no-new-privileges" and
// "no-new-privileges=true|false" (also with ':' for '='). Anything else, and labels or apparmor
// (not supported by kapsel), is an error naming the value. Adds to `security`.
absl::Status ParseSecurityOpt(absl::string_view opt, const FileReader& files,
                              kapsel::v1::SecurityOptions* security);

// --cpus: a non-negative number of CPUs, e.g. "0.5"; 0 means unlimited.
absl::StatusOr<double> ParseCpus(absl::string_view value);

// One --log-opt value: comma-separated KEY=VALUE pairs, "max-size=10m" (a ParseMemorySize size)
// and "max-file=3" (files kept, the current one included). Adds to `log`; an unknown key, or a
// value that is no size or no positive number, is an error naming it. The daemon checks limits.
absl::Status ParseLogOpt(absl::string_view opt, kapsel::v1::LogOptions* log);

// logs --since: RFC 3339 ("2026-11-30T08:00:00Z", fractions and offsets allowed), unix seconds
// ("1796026872", "1796026872.5"), or a duration back from `now` ("10m", "1h30m", "90s").
// Returns unix nanoseconds.
absl::StatusOr<int64_t> ParseSince(absl::string_view value, absl::Time now);

// The flags shared by `run` and `create`, as the command line gave them.
// The resource limit flags of run, create and update, unparsed.
struct ResourceFlags {
  std::string memory;       // -m, unparsed
  std::string memory_swap;  // --memory-swap, unparsed: memory + swap, -1 for unlimited
  std::string cpus;         // --cpus, unparsed
  int64_t cpu_shares = 0;   // --cpu-shares, relative weight; 0 = unset
  std::string cpuset_cpus;  // --cpuset-cpus, e.g. 0-1
  int64_t pids_limit = 0;   // tasks; 0 or -1 = unlimited
};

// Checks the flags and fills the limits they set.
absl::Status ParseResourceFlags(const ResourceFlags& flags, kapsel::v1::Resources* resources);

struct ContainerOptions : ResourceFlags {
  std::string image;
  std::vector<std::string> command;  // everything after the image
  std::string name;
  std::vector<std::string> env;     // -e, unparsed
  std::vector<std::string> labels;  // -l, unparsed
  std::string working_dir;
  std::string hostname;
  std::string user;
  std::string entrypoint;
  std::string network;
  std::vector<std::string> extra_hosts;  // --add-host NAME:IP, checked by the daemon
  std::string userns;                    // --userns host|remap|remap:USER[:GROUP]
  std::vector<std::string> publish;      // -p, unparsed
  bool publish_all = false;              // -P
  std::vector<std::string> volumes;      // -v, unparsed
  bool auto_remove = false;
  bool read_only = false;
  bool interactive = false;
  bool tty = false;
  std::vector<std::string> security_opts;  // --security-opt, unparsed
  std::vector<std::string> cap_add;        // capability names, checked by the daemon
  std::vector<std::string> cap_drop;
  bool privileged = false;
  std::string restart;                 // --restart, checked by the daemon
  std::string stop_signal;             // --stop-signal
  int stop_timeout = -1;               // --stop-timeout seconds; -1 = unset
  std::vector<std::string> env_files;  // --env-file: KEY=VALUE lines, # comments
  std::vector<std::string> log_opts;   // --log-opt, unparsed
  std::vector<std::string> ulimits;    // --ulimit NAME=SOFT[:HARD], names checked by the daemon
  std::vector<std::string> tmpfs;      // --tmpfs PATH[:OPTIONS], options checked by the daemon
  bool init = false;                   // --init
};

// One --ulimit: NAME=SOFT[:HARD] (SOFT alone sets both; -1 is unlimited).
absl::StatusOr<kapsel::v1::Ulimit> ParseUlimit(absl::string_view value);

// One --tmpfs: PATH[:OPTIONS], PATH absolute. Returns the path and the options.
absl::StatusOr<std::pair<std::string, std::string>> ParseTmpfs(absl::string_view value);

// Parses -v HOST:CONTAINER[:OPTIONS], OPTIONS a comma-separated list of ro, rw, private,
// rprivate, slave, rslave. HOST must be an absolute path: kapsel has no named volumes.
absl::StatusOr<kapsel::v1::MountSpec> ParseVolume(absl::string_view value);

// Validates the options and builds the spec sent with Create and Run. -e K is resolved against
// `env`. The image reference is checked but sent as typed, so the daemon can also resolve ids.
absl::StatusOr<kapsel::v1::ContainerSpec> BuildContainerSpec(
    const ContainerOptions& options, const EnvLookup& env, const FileReader& files = LocalFiles());

}  // namespace kapsel::client
