#include "daemon/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "daemon/anonymous_volumes.h"
#include "daemon/atomic_file.h"
#include "daemon/engine_internal.h"
#include "daemon/exit_record.h"
#include "daemon/lifecycle_policy.h"
#include "daemon/log_format.h"
#include "daemon/log_options.h"
#include "daemon/oci_spec_builder.h"
#include "daemon/shim_spawn.h"
#include "google/protobuf/util/json_util.h"
#include "runtime/cgroups/manager.h"
#include "runtime/linux/syscalls.h"
#include "runtime/linux/userns.h"
#include "spdlog/spdlog.h"
#include "store/fs_util.h"
#include "store/overlay.h"

extern char** environ;

namespace kapsel::daemon {
namespace {

using internal::IsActive;
using internal::SpecOf;
using store::ContainerRecord;
using store::EventRecord;

absl::StatusOr<std::string> RandomId() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

std::string GenerateName(const std::string& id) {
  static const char* kAdjectives[] = {
      "brave", "calm",  "eager", "fancy", "gentle", "happy",  "jolly", "keen",  "lucid", "merry",
      "nifty", "proud", "quiet", "sharp", "swift",  "tender", "vivid", "witty", "zen",   "bold"};
  static const char* kNouns[] = {"turing",   "hopper",    "lovelace", "ritchie", "thompson",
                                 "torvalds", "knuth",     "dijkstra", "lamport", "liskov",
                                 "hamilton", "kernighan", "pike",     "cerf",    "shannon",
                                 "backus",   "wirth",     "hoare",    "allen",   "perlman"};
  unsigned a = 0, b = 0;
  (void)absl::SimpleHexAtoi(id.substr(0, 4), &a);
  (void)absl::SimpleHexAtoi(id.substr(4, 4), &b);
  return absl::StrCat(kAdjectives[a % 20], "_", kNouns[b % 20], "_", id.substr(8, 4));
}

// Reads a file of the rootfs without following symlinks out of it. Missing files read as empty.
std::string ReadInRoot(const std::string& rootfs, const char* rel) {
  linux::UniqueFd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "";
  auto fd = linux::Openat2(root.get(), rel, O_RDONLY | O_CLOEXEC, 0,
                           RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  if (!fd.ok()) return "";
  auto bytes = linux::ReadAllBounded(fd->get(), 1 << 20, rel);
  return bytes.ok() ? *std::move(bytes) : "";
}

uint64_t ProcessStartTime(pid_t pid) { return linux::ProcStatField(pid, 22); }

}  // namespace

std::optional<int> ExitCodeOf(const absl::Status& status) {
  auto payload = status.GetPayload(kExitCodePayload);
  if (!payload) return std::nullopt;
  int code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return code;
}

Engine::Engine(EngineOptions options, store::Database* db, store::ImageStore* images, EventBus* bus)
    : options_(std::move(options)),
      db_(db),
      images_(images),
      bus_(bus),
      containers_(db),
      events_(db),
      log_rotation_(options_.log_rotation) {}

Engine::~Engine() { Shutdown(); }

std::string Engine::ContainerDir(const std::string& id) const {
  return absl::StrCat(options_.data_root, "/containers/", id);
}
std::string Engine::ShimDir(const std::string& id) const {
  return absl::StrCat(options_.exec_root, "/shims/", id);
}
void Engine::SetDefaultLogRotation(const logs::RotationOptions& rotation) {
  absl::MutexLock lock(&defaults_mu_);
  log_rotation_ = rotation;
}

std::string Engine::LogPath(const std::string& id) const {
  return ContainerDir(id) + "/container.log";
}

absl::Status Engine::Init() {
  for (const std::string& dir :
       {options_.data_root + "/containers", options_.exec_root + "/shims"}) {
    if (auto s = store::MkdirAll(dir, 0711); !s.ok()) return s;
  }
  auto cgroups = runtime::cgroups::NewManager();
  if (!cgroups.ok()) return cgroups.status();
  cgroups_ = *std::move(cgroups);
  NetworkManagerOptions net_options = options_.network;
  if (net_options.netns_dir.empty() || net_options.netns_dir == NetworkManagerOptions().netns_dir)
    net_options.netns_dir = options_.exec_root + "/netns";
  if (net_options.cni_cache_dir.empty()) net_options.cni_cache_dir = options_.data_root + "/cni";
  auto network = NetworkManager::Create(db_, std::move(net_options));
  if (!network.ok()) return network.status();
  network_ = *std::move(network);
  if (auto s = supervisor_.Start(); !s.ok()) return s;
  if (auto s = Reconcile(); !s.ok()) return s;
  // Namespaces, veths, addresses and ports of containers that are gone; the nft table rebuilt.
  if (auto all = containers_.List(); all.ok()) {
    std::vector<std::string> ids;
    for (const auto& rec : *all) ids.push_back(rec.id);
    if (auto s = network_->Reconcile(ids); !s.ok())
      spdlog::error("network reconcile: {}", std::string(s.message()));
  }
  StartWithDaemon();
  return absl::OkStatus();
}

void Engine::Shutdown() { supervisor_.Stop(); }

absl::Mutex* Engine::ContainerLock(const std::string& id) {
  absl::MutexLock lock(&locks_mu_);
  auto& m = locks_[id];
  if (!m) m = std::make_unique<absl::Mutex>();
  return m.get();
}

std::string Engine::CgroupOf(const std::string& id) {
  absl::MutexLock lock(&cgroup_mu_);
  if (auto it = cgroup_of_.find(id); it != cgroup_of_.end()) return it->second;
  // Created under another cgroup_parent, perhaps: the config it runs with says where it is.
  std::string path = absl::StrCat(options_.cgroup_parent, "/", id);
  if (auto text = linux::ReadFileBounded(ContainerDir(id) + "/config.json", 16 << 20); text.ok()) {
    nlohmann::json config = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (config.is_object() && config.contains("linux") && config["linux"].is_object()) {
      const nlohmann::json& cg = config["linux"].value("cgroupsPath", nlohmann::json());
      if (cg.is_string() && !cg.get<std::string>().empty()) {
        path = cg.get<std::string>();
        while (!path.empty() && path.front() == '/') path.erase(0, 1);
      }
    }
    cgroup_of_[id] = path;  // only what a config said is kept
  }
  return path;
}

absl::Status Engine::CommitEvents(const std::function<absl::Status()>& change,
                                  std::vector<EventRecord> events) {
  absl::Status s = db_->InTransaction([&]() -> absl::Status {
    if (auto st = change(); !st.ok()) return st;
    for (auto& e : events) {
      if (auto seq = events_.Append(e); !seq.ok()) return seq.status();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  for (const auto& e : events) bus_->Publish(e);
  return absl::OkStatus();
}

absl::Status Engine::Commit(const ContainerRecord& rec, EventRecord event) {
  event.container_id = rec.id;
  event.image_id = rec.image_id;
  event.attributes["name"] = rec.name;
  return CommitEvents([&] { return containers_.Update(rec); }, {std::move(event)});
}

absl::StatusOr<ContainerRecord> Engine::Create(const v1::ContainerSpec& request) {
  if (request.image().empty()) return absl::InvalidArgumentError("image: must be given");
  v1::ContainerSpec spec = request;
  auto policy = ParseRestartPolicy(spec.restart_policy());
  if (!policy.ok()) return policy.status();
  if (policy->kind != RestartPolicy::Kind::kNo && spec.auto_remove()) {
    return absl::InvalidArgumentError(
        "conflicting options: a restart policy and --rm (auto-remove) exclude each other");
  }
  if (spec.has_stop_timeout_seconds() && spec.stop_timeout_seconds() < 0) {
    return absl::InvalidArgumentError("stop-timeout: must not be negative");
  }
  // Log rotation (--log-opt): unset values take the daemon's defaults at start.
  if (auto s = ValidateLogOptions(spec.log()); !s.ok()) return s;
  // Until the container row is committed, rmi and prune must not take the image away.
  absl::ReaderMutexLock image_use(&images_->use_mu());
  auto image = images_->Resolve(spec.image());
  if (!image.ok()) return image.status();
  std::string name = spec.name();
  if (!name.empty()) {
    if (!ValidContainerName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("name \"", name, "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
    }
    if (auto existing = containers_.Resolve(name); existing.ok() && existing->name == name) {
      return absl::AlreadyExistsError(absl::StrCat(
          "container name \"", name, "\" is already in use by ", existing->id.substr(0, 12)));
    }
  }
  const nlohmann::json image_config = image->config.value("config", nlohmann::json::object());
  // The stop signal is fixed at create: the request's, else the image's StopSignal, else TERM.
  if (spec.stop_signal().empty()) {
    spec.set_stop_signal(image_config.value("StopSignal", std::string("SIGTERM")));
  }
  if (auto sig = ParseSignal(spec.stop_signal()); !sig.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("stop-signal: ", sig.status().message()));
  }
  // The image's Volumes become anonymous volumes (filled once the rootfs is mounted below).
  auto anonymous_volumes = AnonymousVolumePaths(image_config, spec);
  if (!anonymous_volumes.ok()) return anonymous_volumes.status();
  auto rlimits = ContainerRlimits(options_.default_rlimits, spec.ulimits(), CanRaiseRlimits());
  if (!rlimits.ok()) return rlimits.status();
  if (spec.init()) {
    // Checked here so that a missing init is a clear error at create, not an exec failure.
    struct stat st;
    if (stat(options_.init_path.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("--init: ", options_.init_path, ": ", strerror(errno),
                       " (install Debian's tini package, or set kapseld --init-path)"));
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("--init: ", options_.init_path, " is not an executable file"));
    }
  }
  // --add-host is checked before anything is made; host-gateway is checked again with the
  // network's gateway when the hosts file is written.
  if (auto lines = ExtraHostsLines(spec.extra_hosts(), "0.0.0.0"); !lines.ok()) {
    return lines.status();
  }
  if (ResolveCommand(spec, image_config).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no command specified: image ", spec.image(), " has no Cmd or Entrypoint"));
  }
  auto remap = ResolveUserns(&spec);
  if (!remap.ok()) return remap.status();
  auto id = RandomId();
  if (!id.ok()) return id.status();
  if (name.empty()) name = GenerateName(*id);

  // --network container:NAME shares the namespace of that container, named by its id.
  if (absl::StartsWith(spec.network_mode(), "container:")) {
    auto other = containers_.Resolve(spec.network_mode().substr(strlen("container:")));
    if (!other.ok()) return other.status();
    spec.set_network_mode("container:" + other->id);
  }
  if (spec.publish_all()) {
    // -P: the image's exposed ports ("80/tcp"), each on a free host port.
    const nlohmann::json exposed = image_config.value("ExposedPorts", nlohmann::json::object());
    if (exposed.is_object()) {
      for (const auto& [port, unused] : exposed.items()) spec.add_publish(port);
    }
  }

  const std::string dir = ContainerDir(*id);
  if (mkdir(dir.c_str(), 0700) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
  absl::Cleanup cleanup = [&] {
    (void)network_->Release(*id);
    (void)store::UnmountOverlay(dir);
    (void)store::RemoveTree(dir);
    (void)linux::UnbindNamespace(UsernsPath(*id));
  };
  linux::UniqueFd userns;
  store::OverlayIdmap idmap;
  if (remap->has_value()) {
    const UsernsRemap& r = **remap;
    // The container's root reaches its rootfs and /etc files through the directory (group
    // search only: config.json and the log stay root's).
    if (chown(dir.c_str(), 0, r.root_gid()) != 0 || chmod(dir.c_str(), 0710) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("chown ", dir));
    }
    auto fd =
        OpenUserns(*id, runtime::MappingText(r.uid_mappings), runtime::MappingText(r.gid_mappings));
    if (!fd.ok()) return fd.status();
    userns = *std::move(fd);
    idmap = {userns.get(), r.root_uid(), r.root_gid()};
  }
  auto net = network_->Prepare(*id, spec.network_mode(),
                               {spec.publish().begin(), spec.publish().end()}, userns.get());
  if (!net.ok()) return net.status();
  if (auto s = store::MountOverlay(dir, images_->LowerDirs(*image), userns ? &idmap : nullptr);
      !s.ok()) {
    return s;
  }
  const std::string rootfs = store::OverlayPathsFor(dir).rootfs;
  if (auto s = AddAnonymousVolumes(*anonymous_volumes, rootfs, dir, &spec, idmap.root_uid,
                                   idmap.root_gid);
      !s.ok()) {
    return s;
  }

  SpecInputs in;
  in.id = *id;
  in.rootfs = rootfs;
  in.request = &spec;
  in.image_config = &image_config;
  in.rootfs_etc_passwd = ReadInRoot(rootfs, "etc/passwd");
  in.rootfs_etc_group = ReadInRoot(rootfs, "etc/group");
  // Per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted over the image's.
  if (auto s = WriteEtcFiles(dir, spec, *id, *net); !s.ok()) return s;
  in.etc_files_dir = dir;
  if (spec.security().privileged()) in.host_devices = ListHostDevices();
  in.netns_path = net->netns_path;
  in.host_network = net->mode == "host";
  in.rlimits = *rlimits;
  if (spec.init()) in.init_path = options_.init_path;
  in.cgroup_parent = options_.cgroup_parent;
  if (remap->has_value()) {
    in.userns_path = UsernsPath(*id);
    in.uid_mappings = (*remap)->uid_mappings;
    in.gid_mappings = (*remap)->gid_mappings;
  }
  auto oci = BuildOciSpec(in);
  if (!oci.ok()) return oci.status();
  if (auto s = files::WriteFileAtomic(dir + "/config.json", oci->dump(2), 0600, /*durable=*/true);
      !s.ok()) {
    return s;
  }

  ContainerRecord rec;
  rec.id = *id;
  rec.name = name;
  rec.image_ref = spec.image();
  rec.image_id = image->id;
  rec.state = "created";
  std::string spec_json;
  if (auto s = google::protobuf::util::MessageToJsonString(spec, &spec_json); !s.ok()) {
    return absl::InternalError(absl::StrCat("encode spec: ", s.ToString()));
  }
  rec.spec_json = spec_json;
  // The command as the user gave it, without --init's /dev/init in front.
  rec.command_json = nlohmann::json(ResolveCommand(spec, image_config)).dump();
  rec.created_at = logs::NowNanos();

  EventRecord event;
  event.type = "create";
  event.container_id = rec.id;
  event.image_id = rec.image_id;
  event.attributes = {{"name", rec.name}, {"image", rec.image_ref}};
  if (auto s = CommitEvents([&] { return containers_.Insert(rec); }, {event}); !s.ok()) return s;
  std::move(cleanup).Cancel();
  {
    // Known here: its first start need not read it back from config.json.
    absl::MutexLock cgroup_lock(&cgroup_mu_);
    cgroup_of_[rec.id] = absl::StrCat(options_.cgroup_parent, "/", rec.id);
  }
  // Its name in the /etc/hosts of the other containers on its user network.
  if (net->mode == "network") RefreshPeerHosts(rec.id);
  spdlog::info("created container {} ({}) from {}", rec.id.substr(0, 12), rec.name, rec.image_ref);
  return rec;
}

absl::Status Engine::WriteEtcFiles(const std::string& dir, const v1::ContainerSpec& spec,
                                   const std::string& id, const NetworkAttachment& net) {
  const std::string hostname = spec.hostname().empty() ? id.substr(0, 12) : spec.hostname();
  auto hosts = HostsOf(id, spec, net.address, net.gateway);
  if (!hosts.ok()) return hosts.status();
  std::ifstream host_resolv("/etc/resolv.conf");
  std::string resolv((std::istreambuf_iterator<char>(host_resolv)),
                     std::istreambuf_iterator<char>());
  for (const auto& [file, text] : {std::pair<std::string, std::string>{"hostname", hostname + "\n"},
                                   {"hosts", *hosts},
                                   {"resolv.conf", ResolvConf(resolv)}}) {
    // Not fsync'd (~7 ms each on a disk, on the create path): they are derived from the spec and
    // the address, and LaunchLocked writes them again when a power loss took them.
    if (auto s = files::WriteFileAtomic(absl::StrCat(dir, "/", file), text, 0644,
                                        /*durable=*/false);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Engine::Start(const std::string& ref) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  BeginManualRun(&*rec);
  return StartLocked(*std::move(rec));
}

void Engine::BeginManualRun(ContainerRecord* rec) {
  rec->restart_count = 0;
  rec->stopped_by_user = false;
  absl::MutexLock exit_lock(&exit_mu_);
  restarting_.erase(rec->id);
}

absl::Status Engine::StartLocked(ContainerRecord rec, int attach_fd) {
  if (IsActive(rec.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", rec.name, " is already running"));
  }
  if (rec.state == "removing") {
    return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is being removed"));
  }
  const absl::Time begin = absl::Now();
  absl::Status result = LaunchLocked(std::move(rec), attach_fd);
  if (options_.start_observer) options_.start_observer(absl::Now() - begin, result);
  return result;
}

absl::Status Engine::LaunchLocked(ContainerRecord rec, int attach_fd) {
  const std::string dir = ContainerDir(rec.id);
  const v1::ContainerSpec spec = SpecOf(rec);  // parsed from its JSON once per start
  // The rootfs was mounted at create; only after a reboot (or an unmount) is it mounted again.
  auto mounted = store::IsMountPoint(store::OverlayPathsFor(dir).rootfs);
  if (!mounted.ok()) return mounted.status();
  linux::UniqueFd userns;
  if (absl::StartsWith(spec.userns(), "remap:")) {
    auto fd = PrepareRemappedStart(rec, !*mounted);
    if (!fd.ok()) return fd.status();
    userns = *std::move(fd);
  } else if (!*mounted) {
    auto image = images_->Resolve(rec.image_id);
    if (!image.ok()) return image.status();
    if (auto s = store::MountOverlay(dir, images_->LowerDirs(*image)); !s.ok()) return s;
  }

  // Mounts added while it ran (AddMount) come back with it (engine_mounts.cc).
  if (auto s = ApplyAddedMountsToConfig(rec.id); !s.ok()) return s;
  // The namespace lives under the exec root (a tmpfs): after a reboot it is made again.
  {
    auto net = network_->Prepare(rec.id, spec.network_mode(),
                                 {spec.publish().begin(), spec.publish().end()}, userns.get());
    if (!net.ok()) return net.status();
    // The /etc files were written without fsync at create: after a power loss one may be gone or
    // empty, and the bind mounts of config.json need all three.
    bool whole = true;
    for (const char* file : {"hostname", "hosts"}) {
      struct stat st;
      whole &= stat(absl::StrCat(dir, "/", file).c_str(), &st) == 0 && st.st_size > 0;
    }
    whole &= access(absl::StrCat(dir, "/resolv.conf").c_str(), F_OK) == 0;
    if (!whole) {
      if (auto s = WriteEtcFiles(dir, spec, rec.id, *net); !s.ok()) return s;
    }
    // Its namespace was made again (after a reboot): its addresses, and so its peers' /etc/hosts
    // and its own, may have changed. (Renames and removals meanwhile rewrote them already.)
    if (net->fresh && (net->mode == "network" || !net->connected.empty())) {
      RefreshPeerHosts(rec.id);
    }
  }
  const std::string shim_dir = ShimDir(rec.id);
  if (auto s = store::MkdirAll(shim_dir, 0700); !s.ok()) return s;
  unlink(absl::StrCat(shim_dir, "/", shim::kExitRecordFile).c_str());

  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  linux::UniqueFd status_r(status_pipe[0]), status_w(status_pipe[1]);
  const std::string shim_log = shim_dir + "/shim.log";
  linux::UniqueFd shim_log_fd(
      open(shim_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!shim_log_fd) return absl::ErrnoToStatus(errno, absl::StrCat("open ", shim_log));
  linux::UniqueFd null_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) return absl::ErrnoToStatus(errno, "open /dev/null");

  std::vector<std::string> args = {"--id",   rec.id,  "--bundle",      dir,           "--state-dir",
                                   shim_dir, "--log", LogPath(rec.id), "--status-fd", "3"};
  // Log rotation: the container's --log-opt values, else the daemon's defaults.
  logs::RotationOptions rotation;
  {
    absl::MutexLock defaults_lock(&defaults_mu_);
    rotation = EffectiveLogRotation(spec.log(), log_rotation_);
  }
  args.insert(args.end(), {"--log-max-size", absl::StrCat(rotation.max_size_bytes),
                           "--log-max-files", absl::StrCat(rotation.max_files)});
  if (spec.open_stdin()) args.push_back("--stdin");
  if (attach_fd >= 0) args.insert(args.end(), {"--attach-fd", "4"});
  args.insert(args.end(), {"--seccomp-cache", options_.exec_root + "/seccomp-cache"});
  ShimSpawn spawn{
      options_.shim_path,
      std::move(args),
      {{null_fd.get(), 0}, {shim_log_fd.get(), 1}, {shim_log_fd.get(), 2}, {status_w.get(), 3}},
      /*new_session=*/true};
  if (attach_fd >= 0) spawn.fds.push_back({attach_fd, 4});
  auto spawned = SpawnShim(spawn);
  if (!spawned.ok()) return spawned.status();
  const pid_t shim_pid = *spawned;
  status_w.Close();
  auto pidfd = linux::PidfdOpen(shim_pid);
  if (!pidfd.ok()) return pidfd.status();
  uint64_t start_time = ProcessStartTime(shim_pid);

  // The shim reports once the container's process has exec'd or failed to.
  auto reported = ReadReport(status_r.get(), 60000);
  if (absl::IsDeadlineExceeded(reported.status())) {
    (void)linux::PidfdSendSignal(pidfd->get(), SIGKILL);
    waitpid(shim_pid, nullptr, 0);
    return reported.status();
  }
  const std::string report_text = reported.ok() ? *std::move(reported) : "";
  auto report = shim::DecodeStartReport(report_text);
  if (!report.ok() || !report->ok) {
    waitpid(shim_pid, nullptr, 0);
    std::string error =
        report.ok() ? report->error : "kapsel-shim exited without a report (see " + shim_log + ")";
    int exit_code = 125;
    if (report.ok() && report->exec_errno != 0)
      exit_code = report->exec_errno == ENOENT ? 127 : 126;
    rec.state = "exited";
    rec.exit_code = exit_code;
    rec.exit_signal = 0;
    rec.oom_killed = false;
    rec.error = error;
    rec.started_at = rec.finished_at = logs::NowNanos();
    EventRecord event;
    event.type = "exit";
    event.attributes = {{"exit_code", absl::StrCat(exit_code)}, {"error", error}};
    if (auto s = Commit(rec, event); !s.ok()) return s;
    NotifyExit(rec.id);
    absl::Status err =
        exit_code == 125 ? absl::InternalError(error) : absl::FailedPreconditionError(error);
    err.SetPayload(kExitCodePayload, absl::Cord(absl::StrCat(exit_code)));
    return err;
  }

  rec.state = "running";
  rec.pid = report->pid;
  rec.shim_pid = shim_pid;
  rec.shim_start_time = start_time;
  rec.exit_code = 0;
  rec.exit_signal = 0;
  rec.oom_killed = false;
  rec.error.clear();
  rec.started_at = logs::NowNanos();
  rec.finished_at = 0;
  EventRecord event;
  event.type = "start";
  event.attributes = {{"pid", absl::StrCat(rec.pid)}};
  if (auto s = Commit(rec, event); !s.ok()) {
    (void)linux::PidfdSendSignal(pidfd->get(), SIGKILL);
    return s;
  }
  spdlog::info("started container {} pid {} shim {}", rec.id.substr(0, 12), rec.pid, shim_pid);
  ArmOomWatch(rec);
  return Watch(rec, *std::move(pidfd));
}

absl::Status Engine::Watch(const ContainerRecord& rec, linux::UniqueFd pidfd) {
  std::string id = rec.id;
  return supervisor_.WatchOnce(std::move(pidfd), [this, id](int fd) { OnShimExit(id, fd); });
}

void Engine::OnShimExit(const std::string& id, int pidfd) {
  // Reap the shim when it is our child; after a daemon restart it is not, and that is fine.
  siginfo_t info = {};
  waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
  bool auto_remove = false;
  {
    absl::MutexLock lock(ContainerLock(id));
    auto rec = containers_.Get(id);
    if (!rec.ok() || !IsActive(rec->state)) {
      NotifyExit(id);
      return;
    }
    ExitInfo exit;
    auto record = shim::ReadExitRecord(ShimDir(id));
    if (record.ok()) {
      exit.exit_code = record->exit_code;
      exit.signal = record->signal;
      exit.oom_killed = record->oom_killed;
      exit.error = record->error;
    } else {
      exit.exit_code = 255;
      exit.error =
          absl::StrCat("kapsel-shim ended without an exit record: ", record.status().message());
    }
    // The watch may not have fired yet (or the cgroup is gone): the exit record's verdict
    // still gets its oom event, before the exit event.
    uint64_t reported = DisarmOomWatch(id);
    if (exit.oom_killed && reported == 0) EmitOom(id, 1);
    RecordExit(*rec, exit);
    auto_remove = SpecOf(*rec).auto_remove();
    if (!auto_remove) {
      if (auto exited = containers_.Get(id); exited.ok()) MaybeScheduleRestart(*exited);
    }
  }
  NotifyExit(id);
  if (auto_remove) {
    absl::MutexLock lock(&exit_mu_);
    if (attached_.contains(id)) return;
  }
  if (auto_remove) {
    if (auto s = Remove(id, false); !s.ok() && !absl::IsNotFound(s)) {
      spdlog::warn("auto-remove of {}: {}", id.substr(0, 12), std::string(s.message()));
    }
  }
}

void Engine::RecordExit(ContainerRecord rec, const ExitInfo& exit) {
  rec.state = "exited";
  rec.exit_code = exit.exit_code;
  rec.exit_signal = exit.signal;
  rec.oom_killed = exit.oom_killed;
  rec.error = exit.error;
  rec.pid = 0;
  rec.finished_at = logs::NowNanos();
  std::vector<EventRecord> events;
  auto base = [&](const char* type) {
    EventRecord e;
    e.type = type;
    e.container_id = rec.id;
    e.image_id = rec.image_id;
    e.attributes["name"] = rec.name;
    return e;
  };
  EventRecord e = base("exit");
  e.attributes["exit_code"] = absl::StrCat(exit.exit_code);
  e.attributes["signal"] = absl::StrCat(exit.signal);
  e.attributes["oom_killed"] = exit.oom_killed ? "true" : "false";
  events.push_back(e);
  if (auto s = CommitEvents([&] { return containers_.Update(rec); }, events); !s.ok()) {
    spdlog::error("record exit of {}: {}", rec.id.substr(0, 12), std::string(s.message()));
    return;
  }
  spdlog::info("container {} exited with {}", rec.id.substr(0, 12), exit.exit_code);
}

void Engine::ArmOomWatch(const ContainerRecord& rec) {
  if (!cgroups_) return;
  auto watch = runtime::OomWatch::Open(*cgroups_, CgroupOf(rec.id));
  if (!watch.ok()) {
    spdlog::warn("no OOM watch for {}: {}", rec.id.substr(0, 12),
                 std::string(watch.status().message()));
    return;
  }
  absl::MutexLock lock(&oom_mu_);
  auto state = std::make_unique<OomState>(OomState{*std::move(watch), 0});
  int fd = state->watch.fd();
  std::string id = rec.id;
  if (auto s = supervisor_.Watch(fd, [this, id](int) { OnOom(id, 0); }); !s.ok()) {
    spdlog::warn("no OOM watch for {}: {}", id.substr(0, 12), std::string(s.message()));
    return;
  }
  oom_[id] = std::move(state);
}

void Engine::OnOom(const std::string& id, int attempt) {
  uint64_t kills = 0;
  {
    absl::MutexLock lock(&oom_mu_);
    auto it = oom_.find(id);
    if (it == oom_.end()) return;
    auto fresh = it->second->watch.Consume();
    if (!fresh.ok()) {
      // The cgroup is gone (v1 signals its removal on the same eventfd).
      supervisor_.Unwatch(it->second->watch.fd());
      return;
    }
    kills = *fresh;
    it->second->reported += kills;
  }
  if (kills > 0) {
    EmitOom(id, kills);
    return;
  }
  // cgroup v1 signals the eventfd when the OOM starts, before the killer has picked and counted
  // its victim (memcg1_oom_prepare runs ahead of mem_cgroup_out_of_memory): look again shortly,
  // on a timerfd, a bounded number of times.
  if (attempt >= 40) return;
  linux::UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  struct itimerspec when = {};
  when.it_value.tv_nsec = 25 * 1000 * 1000;
  if (!timer || timerfd_settime(timer.get(), 0, &when, nullptr) != 0) return;
  (void)supervisor_.WatchOnce(std::move(timer),
                              [this, id, attempt](int) { OnOom(id, attempt + 1); });
}

uint64_t Engine::DisarmOomWatch(const std::string& id) {
  absl::MutexLock lock(&oom_mu_);
  auto it = oom_.find(id);
  if (it == oom_.end()) return 0;
  supervisor_.Unwatch(it->second->watch.fd());
  uint64_t reported = it->second->reported;
  oom_.erase(it);
  return reported;
}

void Engine::EmitOom(const std::string& id, uint64_t kills) {
  auto rec = containers_.Get(id);
  if (!rec.ok()) return;
  EventRecord e;
  e.type = "oom";
  e.container_id = id;
  e.image_id = rec->image_id;
  e.attributes = {{"name", rec->name}, {"kills", absl::StrCat(kills)}};
  if (auto s = CommitEvents([] { return absl::OkStatus(); }, {e}); !s.ok()) {
    spdlog::error("record oom of {}: {}", id.substr(0, 12), std::string(s.message()));
    return;
  }
  spdlog::info("oom kill in container {}", id.substr(0, 12));
}

void Engine::NotifyExit(const std::string& id) {
  absl::MutexLock lock(&exit_mu_);
  auto it = exit_fds_.find(id);
  if (it != exit_fds_.end()) {
    for (int fd : it->second) {
      uint64_t one = 1;
      ssize_t unused = write(fd, &one, sizeof(one));
      (void)unused;
      close(fd);
    }
    exit_fds_.erase(it);
  }
  exit_cv_.SignalAll();
}

absl::StatusOr<linux::UniqueFd> Engine::ExitNotifier(const std::string& id) {
  linux::UniqueFd efd(eventfd(0, EFD_CLOEXEC));
  if (!efd) return absl::ErrnoToStatus(errno, "eventfd");
  linux::UniqueFd mine(fcntl(efd.get(), F_DUPFD_CLOEXEC, 0));
  if (!mine) return absl::ErrnoToStatus(errno, "dup eventfd");
  {
    absl::MutexLock lock(&exit_mu_);
    exit_fds_[id].push_back(mine.Release());
  }
  // An exit recorded before the registration would otherwise be missed.
  auto rec = containers_.Get(id);
  if (!rec.ok() || rec->state == "exited") {
    uint64_t one = 1;
    ssize_t unused = write(efd.get(), &one, sizeof(one));
    (void)unused;
  }
  return efd;
}

bool Engine::WaitForExit(const std::string& id, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&exit_mu_);
  for (;;) {
    auto rec = containers_.Get(id);
    if (!rec.ok() || !IsActive(rec->state)) return true;
    if (exit_cv_.WaitWithDeadline(&exit_mu_, deadline)) {
      rec = containers_.Get(id);
      return !rec.ok() || !IsActive(rec->state);
    }
  }
}

void Engine::Attach(const std::string& id) {
  absl::MutexLock lock(&exit_mu_);
  attached_.insert(id);
}

void Engine::Detach(const std::string& id) {
  {
    absl::MutexLock lock(&exit_mu_);
    attached_.erase(id);
  }
  auto rec = containers_.Get(id);
  if (!rec.ok() || IsActive(rec->state) || rec->state == "created") return;
  if (SpecOf(*rec).auto_remove()) {
    if (auto s = Remove(id, false); !s.ok() && !absl::IsNotFound(s)) {
      spdlog::warn("auto-remove of {}: {}", id.substr(0, 12), std::string(s.message()));
    }
  }
}

absl::Status Engine::KillLocked(const ContainerRecord& rec, int signal) {
  if (!IsActive(rec.state)) {
    return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is not running"));
  }
  auto pidfd = linux::PidfdOpen(rec.pid);
  if (!pidfd.ok()) {
    if (absl::IsNotFound(pidfd.status()))
      return absl::OkStatus();  // already gone; the exit is on its way
    return pidfd.status();
  }
  if (auto s = linux::PidfdSendSignal(pidfd->get(), signal); !s.ok()) return s;
  // A frozen process acts on its signal only once thawed (as Docker does for kill and stop).
  if (rec.state == "paused") {
    if (auto s = cgroups_->Freeze(CgroupOf(rec.id), false); !s.ok()) return s;
    ContainerRecord thawed = rec;
    thawed.state = "running";
    EventRecord e;
    e.type = "unpause";
    if (auto s = Commit(thawed, e); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Engine::Kill(const std::string& ref, int signal) {
  if (signal <= 0 || signal >= NSIG)
    return absl::InvalidArgumentError(absl::StrCat("invalid signal ", signal));
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::Status s;
  {
    absl::MutexLock lock(ContainerLock(found->id));
    auto rec = containers_.Get(found->id);
    if (!rec.ok()) return rec.status();
    s = KillLocked(*rec, signal);
    if (!s.ok()) return s;
  }
  EventRecord e;
  e.type = "kill";
  e.container_id = found->id;
  e.image_id = found->image_id;
  e.attributes = {{"name", found->name}, {"signal", absl::StrCat(signal)}};
  return CommitEvents([] { return absl::OkStatus(); }, {e});
}

absl::Status Engine::Stop(const std::string& ref, int timeout_seconds) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  const v1::ContainerSpec spec = SpecOf(*found);
  int stop_signal = ParseSignal(spec.stop_signal()).value_or(SIGTERM);
  if (spec.stop_signal().empty()) stop_signal = SIGTERM;
  if (timeout_seconds < 0)
    timeout_seconds = spec.has_stop_timeout_seconds() ? spec.stop_timeout_seconds() : 10;
  {
    absl::MutexLock lock(ContainerLock(found->id));
    auto rec = containers_.Get(found->id);
    if (!rec.ok()) return rec.status();
    bool pending_restart = false;
    {
      absl::MutexLock exit_lock(&exit_mu_);
      pending_restart = restarting_.erase(rec->id) > 0;
    }
    if (!IsActive(rec->state) && !pending_restart) {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", rec->name, " is not running"));
    }
    // The restart policy leaves a container the user stopped alone.
    rec->stopped_by_user = true;
    if (auto s = containers_.Update(*rec); !s.ok()) return s;
    if (IsActive(rec->state)) {
      if (auto s = KillLocked(*rec, stop_signal); !s.ok()) return s;
    }
  }
  if (!WaitForExit(found->id, absl::Seconds(timeout_seconds))) {
    absl::MutexLock lock(ContainerLock(found->id));
    auto rec = containers_.Get(found->id);
    if (rec.ok() && IsActive(rec->state)) (void)KillLocked(*rec, SIGKILL);
  }
  WaitForExit(found->id, absl::Seconds(30));
  EventRecord e;
  e.type = "stop";
  e.container_id = found->id;
  e.image_id = found->image_id;
  e.attributes = {{"name", found->name}};
  return CommitEvents([] { return absl::OkStatus(); }, {e});
}

absl::StatusOr<ExitInfo> Engine::Wait(const std::string& ref,
                                      const std::function<bool()>& cancelled) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  while (!WaitForExit(found->id, absl::Seconds(1))) {
    if (cancelled()) return absl::CancelledError("wait cancelled");
  }
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  if (rec->state == "created") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", rec->name, " has not been started"));
  }
  return ExitInfo{rec->exit_code, rec->exit_signal, rec->oom_killed, rec->error};
}

absl::Status Engine::Remove(const std::string& ref, bool force) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  if (IsActive(found->state)) {
    if (!force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "container ", found->name, " is running: stop it first or remove it with force"));
    }
    {
      absl::MutexLock lock(ContainerLock(found->id));
      auto rec = containers_.Get(found->id);
      if (rec.ok() && IsActive(rec->state)) {
        rec->stopped_by_user = true;
        (void)containers_.Update(*rec);
        (void)KillLocked(*rec, SIGKILL);
      }
    }
    if (!WaitForExit(found->id, absl::Seconds(30))) {
      return absl::DeadlineExceededError(
          absl::StrCat("container ", found->name, " did not exit after SIGKILL"));
    }
  }
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  return RemoveLocked(*std::move(rec), force);
}

absl::Status Engine::CleanupFilesystem(const std::string& id) {
  absl::Status result;
  const std::string cgroup = CgroupOf(id);  // read from config.json, before it goes
  result.Update(store::UnmountOverlay(ContainerDir(id)));
  if (result.ok()) result.Update(store::RemoveTree(ContainerDir(id)));
  result.Update(store::RemoveTree(ShimDir(id)));
  if (cgroups_) result.Update(cgroups_->Destroy(cgroup));
  {
    absl::MutexLock lock(&cgroup_mu_);
    cgroup_of_.erase(id);
  }
  result.Update(linux::UnbindNamespace(UsernsPath(id)));
  if (network_) {
    std::vector<std::string> user_networks = UserNetworksOf(id);
    result.Update(network_->Release(id));
    // Its name leaves the /etc/hosts of its peers.
    for (const std::string& name : user_networks) RewriteNetworkHosts(name);
  }
  return result;
}

absl::Status Engine::RemoveLocked(ContainerRecord rec, bool /*force*/) {
  if (IsActive(rec.state)) {
    return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is running"));
  }
  // Marked first, so that a crash half-way through is finished by the next Reconcile.
  rec.state = "removing";
  if (auto s = containers_.Update(rec); !s.ok()) return s;
  if (auto s = CleanupFilesystem(rec.id); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("remove container ", rec.name, ": ", s.message()));
  }
  EventRecord e;
  e.type = "remove";
  e.container_id = rec.id;
  e.image_id = rec.image_id;
  e.attributes = {{"name", rec.name}};
  if (auto s = CommitEvents([&] { return containers_.Delete(rec.id); }, {e}); !s.ok()) return s;
  {
    absl::MutexLock lock(&exit_mu_);
    auto it = exit_fds_.find(rec.id);
    if (it != exit_fds_.end()) {
      for (int fd : it->second) close(fd);
      exit_fds_.erase(it);
    }
  }
  spdlog::info("removed container {}", rec.id.substr(0, 12));
  return absl::OkStatus();
}

absl::StatusOr<ContainerRecord> Engine::Get(const std::string& ref) {
  return containers_.Resolve(ref);
}

absl::StatusOr<std::vector<ContainerRecord>> Engine::List() { return containers_.List(); }

absl::StatusOr<store::ImageRecord> Engine::ImportImage(const std::string& tar_path,
                                                       const std::string& reference,
                                                       const std::vector<std::string>& changes) {
  uint64_t seq = 0;
  auto image = images_->ImportRootfsTarball(tar_path, reference, changes, &seq);
  if (!image.ok()) return image.status();
  if (seq > 0) {
    auto events = events_.Since(seq - 1, 1);
    if (events.ok()) {
      for (const auto& e : *events) bus_->Publish(e);
    }
  }
  return image;
}

void Engine::PublishEvents(const std::vector<EventRecord>& events) {
  for (const auto& e : events) bus_->Publish(e);
}

absl::Status Engine::Reconcile() {
  auto all = containers_.List();
  if (!all.ok()) return all.status();
  std::set<std::string> known;
  for (ContainerRecord& rec : *all) {
    known.insert(rec.id);
    absl::MutexLock lock(ContainerLock(rec.id));
    if (rec.state == "removing") {
      spdlog::info("finishing the removal of {}", rec.id.substr(0, 12));
      if (auto s = RemoveLocked(rec, true); !s.ok())
        spdlog::warn("remove {}: {}", rec.id.substr(0, 12), std::string(s.message()));
      continue;
    }
    if (!IsActive(rec.state)) continue;
    // Is the shim that ran it still alive, and the same process (not a reused pid)?
    auto pidfd = linux::PidfdOpen(rec.shim_pid);
    if (pidfd.ok() && ProcessStartTime(rec.shim_pid) == rec.shim_start_time) {
      spdlog::info("re-adopted container {} (shim {})", rec.id.substr(0, 12), rec.shim_pid);
      ArmOomWatch(rec);
      if (auto s = Watch(rec, *std::move(pidfd)); !s.ok()) return s;
      continue;
    }
    ExitInfo exit;
    auto record = shim::ReadExitRecord(ShimDir(rec.id));
    if (record.ok()) {
      exit = {record->exit_code, record->signal, record->oom_killed, record->error};
    } else {
      exit.exit_code = 255;
      exit.error = "kapsel-shim vanished while kapseld was down, without an exit record";
    }
    spdlog::info("container {} exited while kapseld was down", rec.id.substr(0, 12));
    RecordExit(rec, exit);
  }
  // Directories without a row are leftovers of a create that crashed before its commit.
  const std::string containers_dir = options_.data_root + "/containers";
  linux::UniqueFd dir_fd(open(containers_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto entries = dir_fd ? store::ListDirAt(dir_fd.get(), containers_dir)
                        : absl::StatusOr<std::vector<std::string>>(
                              absl::ErrnoToStatus(errno, "open " + containers_dir));
  if (entries.ok()) {
    for (const auto& name : *entries) {
      if (known.contains(name) || name.size() != 64) continue;
      spdlog::info("removing leftover container directory {}", name.substr(0, 12));
      (void)CleanupFilesystem(name);
    }
  }
  // User namespaces kept for containers that are gone (a create that crashed in its clean-up).
  const std::string userns_dir = options_.exec_root + "/userns";
  if (linux::UniqueFd fd(open(userns_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); fd) {
    if (auto kept = store::ListDirAt(fd.get(), userns_dir); kept.ok()) {
      for (const auto& name : *kept) {
        if (known.contains(name)) continue;
        spdlog::info("removing the leftover user namespace of {}", name.substr(0, 12));
        (void)linux::UnbindNamespace(UsernsPath(name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kapsel::daemon
