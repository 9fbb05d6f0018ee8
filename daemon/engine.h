#pragma once

// The container state machine: created -> running <-> paused -> exited -> removed. Every
// transition is written to SQLite together with its event, in one transaction, before the API
// reports success; the event is then published to live subscribers.
//
// Thread-safe. Operations on one container are serialized by a per-container mutex; different
// containers proceed in parallel.

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/event_bus.h"
#include "daemon/log_writer.h"
#include "daemon/network_manager.h"
#include "daemon/oci_spec_builder.h"
#include "daemon/supervisor.h"
#include "daemon/userns_remap.h"
#include "kapsel/v1/containers.pb.h"
#include "runtime/cgroups/manager.h"
#include "runtime/linux/unique_fd.h"
#include "runtime/oom_watch.h"
#include "store/containers_repo.h"
#include "store/database.h"
#include "store/events_repo.h"
#include "store/image_store.h"

namespace kapsel::daemon {

struct EngineOptions {
  std::string data_root;  // /var/lib/kapsel
  std::string exec_root;  // /run/kapsel
  std::string shim_path;  // the kapsel-shim binary
  // Container networking; netns_dir defaults to <exec_root>/netns.
  NetworkManagerOptions network;
  // Log rotation of containers whose spec does not set it (kapseld --log-max-size/-files);
  // SetDefaultLogRotation changes it later.
  logs::RotationOptions log_rotation{.max_size_bytes = 20 << 20, .max_files = 5};
  // rlimits of every container process (kapseld --default-ulimit), in OCI terms.
  std::vector<ProcessRlimit> default_rlimits;
  // The static init binary of --init containers (kapseld --init-path), checked at create.
  std::string init_path = "/usr/bin/tini-static";
  // New containers' cgroups are <cgroup_parent>/<id> (kapseld's cgroup_parent); a container
  // keeps the one it was created with (its config.json's cgroupsPath).
  std::string cgroup_parent = "kapsel";
  // kapseld's userns_remap (USER[:GROUP] or "default"): new containers run remapped unless their
  // request says --userns host. Empty: not remapped unless the request asks. The ranges are read
  // from these files at each create.
  std::string userns_remap;
  std::string subuid_path = "/etc/subuid";
  std::string subgid_path = "/etc/subgid";
  // Called after each attempt to start a container that was not already running (kapseld's
  // metrics: start latency and failures), on the thread that started it, with the container's
  // lock held: must be quick and must not call the engine.
  std::function<void(absl::Duration elapsed, const absl::Status& result)> start_observer;
};

// One process of a running container, as the host sees it (top).
struct ProcessInfo {
  int pid = 0;
  int ppid = 0;
  uint32_t uid = 0;
  std::string state;
  uint64_t cpu_time_nanos = 0;
  uint64_t rss_bytes = 0;
  std::vector<std::string> args;
};

struct ExitInfo {
  int exit_code = 0;
  int signal = 0;
  bool oom_killed = false;
  std::string error;
};

// A Start that failed because the process could not be executed carries the container's exit
// code (126 or 127) in this payload of the returned status.
inline constexpr char kExitCodePayload[] = "kapsel.dev/exit-code";
std::optional<int> ExitCodeOf(const absl::Status& status);

class Engine {
 public:
  Engine(EngineOptions options, store::Database* db, store::ImageStore* images, EventBus* bus);
  ~Engine();

  // Creates the state directories, starts the supervisor and reconciles SQLite with the shims,
  // exit records and mounts left by an earlier run.
  absl::Status Init();
  // Stops watching; running containers stay with their shims.
  void Shutdown();

  absl::StatusOr<store::ContainerRecord> Create(const v1::ContainerSpec& spec);
  absl::Status Start(const std::string& ref);
  absl::Status Kill(const std::string& ref, int signal);
  absl::Status Stop(const std::string& ref, int timeout_seconds);
  absl::Status Remove(const std::string& ref, bool force);
  // Blocks until the container has exited, or until cancelled() turns true.
  absl::StatusOr<ExitInfo> Wait(const std::string& ref, const std::function<bool()>& cancelled);
  absl::StatusOr<store::ContainerRecord> Get(const std::string& ref);
  absl::StatusOr<std::vector<store::ContainerRecord>> List();

  // Lifecycle beyond create/start/stop (engine_lifecycle.cc).
  // Freezes every process of a running container (cgroup freezer); Unpause thaws them.
  absl::Status Pause(const std::string& ref);
  absl::Status Unpause(const std::string& ref);
  // Stop (when running) then start; timeout_seconds < 0: the container's stop timeout.
  absl::Status Restart(const std::string& ref, int timeout_seconds);
  absl::Status Rename(const std::string& ref, const std::string& new_name);
  // Changes the limits given (non-zero fields) of a container, live when it runs; a later start
  // keeps them.
  absl::Status Update(const std::string& ref, const v1::Resources& resources);
  absl::StatusOr<runtime::cgroups::Stats> Stats(const std::string& ref);
  absl::StatusOr<std::vector<ProcessInfo>> Top(const std::string& ref);

  // An eventfd that becomes readable once container `id` is no longer running.
  absl::StatusOr<linux::UniqueFd> ExitNotifier(const std::string& id);
  // While attached, an auto-remove container is kept after its exit; Detach removes it then.
  void Attach(const std::string& id);
  void Detach(const std::string& id);

  absl::StatusOr<store::ImageRecord> ImportImage(const std::string& tar_path,
                                                 const std::string& reference,
                                                 const std::vector<std::string>& changes);

  // Publishes events that a store operation already committed (image load, tag, rmi, prune).
  void PublishEvents(const std::vector<store::EventRecord>& events);

  // The default log rotation of containers started from now on (SIGHUP reload).
  void SetDefaultLogRotation(const logs::RotationOptions& rotation);

  std::string LogPath(const std::string& id) const;
  std::string ContainerDir(const std::string& id) const;
  std::string ShimDir(const std::string& id) const;
  const EngineOptions& options() const { return options_; }
  store::ImageStore* images() { return images_; }
  NetworkManager* network() { return network_.get(); }
  store::Database* db() { return db_; }

  // Bind mounts added to a running container (engine_mounts.cc). The host path is opened here
  // with open_tree and attached inside the container's mount namespace by `kapsel-shim
  // mount-add`; each mount is recorded in SQLite, with a "mount" event, and re-applied when the
  // container starts again.
  absl::Status AddMount(const std::string& ref, const v1::MountSpec& mount);
  // Detaches the mount (when the container runs) and forgets it. Returns true when it was busy
  // and was detached lazily.
  absl::StatusOr<bool> RemoveMount(const std::string& ref, const std::string& container_path);
  // In the order they were added.
  absl::StatusOr<std::vector<v1::MountSpec>> ListMounts(const std::string& ref);

  // network connect/disconnect (engine_network.cc) of a created, running or stopped container
  // with its own namespace on a bridge or user network; a "connect"/"disconnect" event each.
  absl::StatusOr<ConnectedNetwork> ConnectNetwork(const std::string& ref,
                                                  const std::string& network);
  absl::Status DisconnectNetwork(const std::string& ref, const std::string& network);

  // exec (engine_exec.cc): a new process in a running container, entered by `kapsel-shim exec`
  // (daemon/shim/exec.h), which kapseld spawns with the process' stdio: pipes, or the slave of a
  // pty whose master the session keeps. Thread-compatible: one session per Exec call.
  struct ExecSession {
    std::string container_id;
    std::string container_name;
    pid_t shim_pid = 0;
    linux::UniqueFd shim_pidfd;
    pid_t pid = 0;          // the exec'd process (host pid); 0 when it did not start
    linux::UniqueFd pidfd;  // of `pid`, when it could be opened
    bool tty = false;
    linux::UniqueFd stdin_fd;   // write end of the stdin pipe (non-blocking); none with a tty
    linux::UniqueFd stdout_fd;  // read end of the stdout pipe, or the pty master
    linux::UniqueFd stderr_fd;  // read end of the stderr pipe; none with a tty
    // Set when the process could not be started: exit code 126 or 127 and the reason.
    std::optional<ExitInfo> failed;
  };
  // NotFound for an unknown container, FailedPrecondition when it is not running. With a tty,
  // `initial_size` (when given and not 0x0) is the pty's window size before the process starts.
  absl::StatusOr<std::unique_ptr<ExecSession>> Exec(const v1::ExecSpec& spec,
                                                    const v1::WindowSize* initial_size = nullptr);
  // attach (engine_attach.cc): a connection to the attach socket of the container's shim
  // (shim/attach_protocol.h). With `start`, a container that is not running is started with the
  // connection already in place, `initial_size` (when not 0x0) set on its terminal first, so
  // that no output is missed (`run -it`). FailedPrecondition when it is not running and
  // `start` is not set.
  struct AttachSession {
    std::string id;
    std::string name;
    bool tty = false;
    bool open_stdin = false;
    linux::UniqueFd conn;  // SOCK_SEQPACKET
  };
  absl::StatusOr<AttachSession> OpenAttach(const std::string& ref, bool start,
                                           const v1::WindowSize* initial_size = nullptr);

  // SIGKILLs the exec'd process and its helper (the client went away).
  void ExecKill(ExecSession& session);
  // Waits for the helper, which exits with the process' code (128+N for signal N).
  ExitInfo ExecWait(ExecSession& session);

 private:
  // Called by StartLocked: puts the added mounts into config.json's mounts (engine_mounts.cc).
  absl::Status ApplyAddedMountsToConfig(const std::string& id);
  absl::Mutex* ContainerLock(const std::string& id);
  // Resolves `ref`, takes that container's lock and runs `fn` with its record, read under the
  // lock. The resolve's and the read's errors are returned as they are.
  template <typename Fn>
  std::invoke_result_t<Fn, store::ContainerRecord&> WithContainer(const std::string& ref, Fn fn) {
    auto found = containers_.Resolve(ref);
    if (!found.ok()) return found.status();
    absl::MutexLock lock(ContainerLock(found->id));
    auto rec = containers_.Get(found->id);
    if (!rec.ok()) return rec.status();
    return fn(*rec);
  }
  // The container's cgroup, relative to each hierarchy's root: the cgroupsPath of its
  // config.json, read once, else <cgroup_parent>/<id>.
  std::string CgroupOf(const std::string& id);
  // Writes the record and an event in one transaction, then publishes the event.
  absl::Status Commit(const store::ContainerRecord& rec, store::EventRecord event);
  absl::Status CommitEvents(const std::function<absl::Status()>& change,
                            std::vector<store::EventRecord> events);
  // A start by hand begins a new run for the restart policy. Under the container's lock.
  void BeginManualRun(store::ContainerRecord* rec);
  // `attach_fd` >= 0: a first attach connection handed to the shim (OpenAttach).
  absl::Status StartLocked(store::ContainerRecord rec, int attach_fd = -1);
  // StartLocked past its precondition checks, timed for EngineOptions::start_observer.
  // The container's /etc/hostname, /etc/hosts and /etc/resolv.conf in its directory `dir`.
  absl::Status WriteEtcFiles(const std::string& dir, const v1::ContainerSpec& spec,
                             const std::string& id, const NetworkAttachment& net);
  // Name resolution on user networks (engine_network.cc): each container's /etc/hosts lists the
  // other containers of every user network it is on (name, short id, hostname), rewritten in
  // place (it is bind-mounted) when one joins, leaves or is renamed. The default network has no
  // names, as in Docker.
  // The whole /etc/hosts of container `id`: localhost, itself, --add-host, then its peers.
  absl::StatusOr<std::string> HostsOf(const std::string& id, const v1::ContainerSpec& spec,
                                      const std::string& address, const std::string& gateway);
  // The user networks (not the default one) container `id` has an address on.
  std::vector<std::string> UserNetworksOf(const std::string& id);
  // Rewrites the /etc/hosts of every member of each user network of `id`, `id` included.
  void RefreshPeerHosts(const std::string& id);
  // Rewrites the /etc/hosts of every member of network `name` whose content changed.
  void RewriteNetworkHosts(const std::string& name);
  // User namespaces of remapped containers (engine_userns.cc). Each is made by the daemon and
  // bind-mounted at UsernsPath under the exec root; it owns the container's network namespace,
  // maps its idmapped image layers, and the container's process joins it.
  std::string UsernsPath(const std::string& id) const;
  // The request's --userns, resolved and recorded in `spec` as "host" or "remap:USER:GROUP";
  // nullopt for "host". Refuses what a user namespace excludes (--privileged, --network host or
  // container:). Makes nothing.
  absl::StatusOr<std::optional<UsernsRemap>> ResolveUserns(v1::ContainerSpec* spec) const;
  // The user namespace of container `id`, opened; made from `uid_map`/`gid_map` (MappingText)
  // and bind-mounted when missing.
  absl::StatusOr<linux::UniqueFd> OpenUserns(const std::string& id, const std::string& uid_map,
                                             const std::string& gid_map);
  // At start: the namespace of a remapped container, made again with the maps of its
  // config.json when a reboot took it, and its rootfs mounted again (idmapped) when needed.
  absl::StatusOr<linux::UniqueFd> PrepareRemappedStart(const store::ContainerRecord& rec,
                                                       bool mount_rootfs);
  absl::Status LaunchLocked(store::ContainerRecord rec, int attach_fd);
  absl::Status RemoveLocked(store::ContainerRecord rec, bool force);
  absl::Status KillLocked(const store::ContainerRecord& rec, int signal);
  void OnShimExit(const std::string& id, int pidfd);
  void RecordExit(store::ContainerRecord rec, const ExitInfo& exit);
  // OOM kills of any process in a running container become "oom" events.
  void ArmOomWatch(const store::ContainerRecord& rec);
  // `attempt` > 0: a re-check after a notification that came before the kill was counted.
  void OnOom(const std::string& id, int attempt);
  // Stops watching; returns how many OOM kills were reported for this run.
  uint64_t DisarmOomWatch(const std::string& id);
  void EmitOom(const std::string& id, uint64_t kills);
  absl::Status Watch(const store::ContainerRecord& rec, linux::UniqueFd pidfd);
  void NotifyExit(const std::string& id);
  bool WaitForExit(const std::string& id, absl::Duration timeout);
  absl::Status Reconcile();
  // Restart policies (engine_lifecycle.cc): after an exit, start again after a back-off when the
  // policy says so; at daemon start, bring back the always and unless-stopped containers.
  void MaybeScheduleRestart(const store::ContainerRecord& rec);
  void OnRestartTimer(const std::string& id);
  void StartWithDaemon();
  absl::Status CleanupFilesystem(const std::string& id);

  const EngineOptions options_;
  store::Database* db_;
  store::ImageStore* images_;
  EventBus* bus_;
  store::ContainerRepo containers_;
  store::EventRepo events_;
  Supervisor supervisor_;
  std::unique_ptr<runtime::cgroups::Manager> cgroups_;
  std::unique_ptr<NetworkManager> network_;

  struct OomState {
    runtime::OomWatch watch;
    uint64_t reported = 0;
  };
  absl::Mutex oom_mu_;
  std::map<std::string, std::unique_ptr<OomState>> oom_ ABSL_GUARDED_BY(oom_mu_);

  absl::Mutex defaults_mu_;
  logs::RotationOptions log_rotation_ ABSL_GUARDED_BY(defaults_mu_);

  absl::Mutex cgroup_mu_;
  std::map<std::string, std::string> cgroup_of_ ABSL_GUARDED_BY(cgroup_mu_);

  // Serializes the in-place rewrites of /etc/hosts files (engine_network.cc). A leaf lock.
  absl::Mutex hosts_mu_;

  absl::Mutex locks_mu_;
  std::map<std::string, std::unique_ptr<absl::Mutex>> locks_ ABSL_GUARDED_BY(locks_mu_);

  absl::Mutex exit_mu_;
  absl::CondVar exit_cv_;
  std::map<std::string, std::vector<int>> exit_fds_ ABSL_GUARDED_BY(exit_mu_);
  std::set<std::string> attached_ ABSL_GUARDED_BY(exit_mu_);
  // Containers that exited and wait out their restart back-off.
  std::set<std::string> restarting_ ABSL_GUARDED_BY(exit_mu_);
};

}  // namespace kapsel::daemon
