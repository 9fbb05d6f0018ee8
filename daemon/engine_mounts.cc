// Bind mounts added to and removed from a running container (issue 8).
//
// The source is opened on the host with open_tree(OPEN_TREE_CLONE), a detached copy of the host's
// mount (tree) that carries its own read-only and propagation attributes (mount_setattr). A
// single-threaded helper (`kapsel-shim mount-add`, daemon/shim/mount_helper.h) joins the
// container's mount namespace, resolves the target inside the container's root without leaving
// it, creates what is missing there, and attaches the tree with move_mount. The mount is then
// recorded (container_mounts) with its event in one transaction, and StartLocked puts the
// recorded mounts into config.json so that a restarted container has them again.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/atomic_file.h"
#include "daemon/bind_mount_check.h"
#include "daemon/engine.h"
#include "daemon/engine_internal.h"
#include "daemon/log_format.h"
#include "daemon/mount_report.h"
#include "daemon/shim_spawn.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/syscalls.h"
#include "spdlog/spdlog.h"
#include "store/mounts_repo.h"

namespace kapsel::daemon {
namespace {

using internal::InitPidfd;

using nlohmann::json;
using store::ContainerRecord;
using store::EventRecord;
using store::MountRecord;

// The mounts StartLocked appended to config.json, as JSON text: the next start takes exactly
// these out again before it appends the current ones, whatever else changed in the file.
constexpr char kAddedMountsAnnotation[] = "kapsel.dev/added-mounts";

// How long a mount helper may take before it is killed.
constexpr int kHelperTimeoutMillis = 30000;

// "/a//b/" -> "/a/b"; relative paths and . or .. components are refused.
absl::StatusOr<std::string> NormalizeContainerPath(const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("container path \"", path, "\": must be absolute"));
  }
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (const std::string& part : parts) {
    if (part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("container path \"", path, "\": must not contain . or .."));
    }
  }
  return absl::StrCat("/", absl::StrJoin(parts, "/"));
}

// A detached copy of the host path's mount (with its submounts when recursive), read-only and
// with the propagation asked for. mount_setattr(2) accepts a detached mount: Linux 5.12.
absl::StatusOr<linux::UniqueFd> OpenSource(const MountRecord& m) {
  const unsigned recursive = m.recursive ? AT_RECURSIVE : 0;
  // open_tree(2), Linux 5.2.
  linux::UniqueFd fd(
      open_tree(AT_FDCWD, m.host_path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive));
  if (!fd) return linux::ErrnoStatus(errno, absl::StrCat("open_tree ", m.host_path));
  if (m.read_only) {
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (mount_setattr(fd.get(), "", AT_EMPTY_PATH | recursive, &attr, sizeof(attr)) != 0) {
      return linux::ErrnoStatus(errno, absl::StrCat("mount_setattr ro ", m.host_path));
    }
  }
  // The clone of a shared host mount joins the host's peer group: without this, mounts made
  // under it on either side would propagate to the other.
  struct mount_attr attr = {};
  const bool slave = m.propagation == "slave" || m.propagation == "rslave";
  attr.propagation = slave ? MS_SLAVE : MS_PRIVATE;
  const unsigned prop_recursive =
      m.propagation == "rprivate" || m.propagation == "rslave" ? AT_RECURSIVE : 0;
  if (mount_setattr(fd.get(), "", AT_EMPTY_PATH | prop_recursive, &attr, sizeof(attr)) != 0) {
    return linux::ErrnoStatus(errno,
                              absl::StrCat("mount_setattr ", m.propagation, " ", m.host_path));
  }
  return fd;
}

// Spawns `shim_path` with `args` (the helper mode and its flags) and the given fds at fixed
// numbers (3: the status pipe, 4: the pidfd, 5: the source when there is one), and returns
// what it reported (daemon/shim_spawn.h).
shim::MountReport RunHelper(const std::string& shim_path, const std::vector<std::string>& args,
                            int pidfd, int source_fd) {
  shim::MountReport failed;
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    failed.status = linux::ErrnoStatus(errno, "pipe2");
    return failed;
  }
  linux::UniqueFd status_r(status_pipe[0]), status_w(status_pipe[1]);
  linux::UniqueFd null_fd(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) {
    failed.status = linux::ErrnoStatus(errno, "open /dev/null");
    return failed;
  }
  ShimSpawn spawn{
      shim_path, args, {{null_fd.get(), 0}, {null_fd.get(), 1}, {status_w.get(), 3}, {pidfd, 4}}};
  spawn.args.insert(spawn.args.end(), {"--status-fd", "3", "--pidfd", "4"});
  if (source_fd >= 0) {
    spawn.fds.push_back({source_fd, 5});
    spawn.args.insert(spawn.args.end(), {"--source-fd", "5"});
  }
  auto spawned = SpawnShim(spawn);
  if (!spawned.ok()) {
    failed.status = spawned.status();
    return failed;
  }
  const pid_t pid = *spawned;
  status_w.Close();
  auto reported = ReadReport(status_r.get(), kHelperTimeoutMillis);
  if (absl::IsDeadlineExceeded(reported.status())) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    failed.status = absl::DeadlineExceededError(absl::StrCat(
        "kapsel-shim ", args[0], " did not report within ", kHelperTimeoutMillis / 1000, "s"));
    return failed;
  }
  const std::string text = reported.ok() ? *std::move(reported) : "";
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (text.empty()) {
    failed.status = absl::InternalError(absl::StrCat(
        "kapsel-shim ", args[0], " exited without a report (wait status ", wstatus, ")"));
    return failed;
  }
  return shim::DecodeMountReport(text);
}

v1::MountSpec ToProto(const MountRecord& m) {
  v1::MountSpec out;
  out.set_host_path(m.host_path);
  out.set_container_path(m.container_path);
  out.set_read_only(m.read_only);
  out.set_recursive(m.recursive);
  out.set_propagation(m.propagation);
  return out;
}

// The config.json entry: the same shape as the -v volumes of the spec builder.
json ConfigEntry(const MountRecord& m) {
  return {{"destination", m.container_path},
          {"type", "bind"},
          {"source", m.host_path},
          {"options",
           {m.recursive ? "rbind" : "bind", m.read_only ? (m.recursive ? "rro" : "ro") : "rw",
            m.propagation}}};
}

}  // namespace

absl::Status Engine::AddMount(const std::string& ref, const v1::MountSpec& mount) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  const std::string what = absl::StrCat("mount ", mount.host_path(), ":", mount.container_path());
  if (!internal::IsActive(rec->state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": container ", rec->name, " is not running (mounts are added to running ones)"));
  }
  auto dest = CheckBindMount(mount, what, BindMountRules{.refuse_sys = true});
  if (!dest.ok()) return dest.status();
  store::MountRepo repo(db_);
  if (repo.Get(rec->id, *dest).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat(what, ": ", *dest, " is already mounted in container ", rec->name));
  }
  MountRecord row;
  row.container_id = rec->id;
  row.container_path = *dest;
  row.host_path = mount.host_path();
  row.read_only = mount.read_only();
  row.recursive = mount.recursive();
  row.propagation = mount.propagation().empty() ? "rprivate" : mount.propagation();
  row.created_at = logs::NowNanos();

  auto pidfd = InitPidfd(*rec);
  if (!pidfd.ok()) return pidfd.status();
  auto source = OpenSource(row);
  if (!source.ok()) {
    return absl::Status(source.status().code(),
                        absl::StrCat(what, ": ", source.status().message()));
  }
  shim::MountReport report =
      RunHelper(options_.shim_path,
                {"mount-add", "--pid", absl::StrCat(rec->pid), "--target", row.container_path},
                pidfd->get(), source->get());
  if (!report.status.ok()) {
    return absl::Status(report.status.code(), absl::StrCat(what, ": ", report.status.message()));
  }

  EventRecord e;
  e.type = "mount";
  e.container_id = rec->id;
  e.image_id = rec->image_id;
  e.attributes = {{"name", rec->name},
                  {"source", row.host_path},
                  {"destination", row.container_path},
                  {"mode", row.read_only ? "ro" : "rw"},
                  {"recursive", row.recursive ? "true" : "false"},
                  {"propagation", row.propagation}};
  if (auto s = CommitEvents([&] { return repo.Insert(row); }, {e}); !s.ok()) {
    // Not recorded, so not left attached either.
    shim::MountReport undo =
        RunHelper(options_.shim_path,
                  {"mount-rm", "--pid", absl::StrCat(rec->pid), "--target", row.container_path},
                  pidfd->get(), -1);
    if (!undo.status.ok()) {
      spdlog::error("undo mount {} in {}: {}", row.container_path, rec->id.substr(0, 12),
                    std::string(undo.status.message()));
    }
    return s;
  }
  spdlog::info("mounted {} at {} in container {}{}", row.host_path, row.container_path,
               rec->id.substr(0, 12), row.read_only ? " (read-only)" : "");
  return absl::OkStatus();
}

absl::StatusOr<bool> Engine::RemoveMount(const std::string& ref,
                                         const std::string& container_path) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  auto dest = NormalizeContainerPath(container_path);
  if (!dest.ok()) return dest.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  store::MountRepo repo(db_);
  auto row = repo.Get(rec->id, *dest);
  if (!row.ok()) return row.status();

  bool lazy = false;
  // Paused too: the helper needs the namespace, not the container's processes, to run.
  if (internal::IsActive(rec->state)) {
    auto pidfd = InitPidfd(*rec);
    if (!pidfd.ok()) return pidfd.status();
    std::vector<std::string> args = {"mount-rm", "--pid", absl::StrCat(rec->pid), "--target",
                                     row->container_path};
    // Only the mount of this host path is taken down, never one that lies under it.
    struct stat st;
    if (stat(row->host_path.c_str(), &st) == 0) {
      args.insert(args.end(), {"--expect-dev", absl::StrCat(st.st_dev), "--expect-ino",
                               absl::StrCat(st.st_ino)});
    }
    shim::MountReport report = RunHelper(options_.shim_path, args, pidfd->get(), -1);
    if (absl::IsNotFound(report.status)) {
      spdlog::warn("container {}: {}; forgetting the mount", rec->id.substr(0, 12),
                   std::string(report.status.message()));
    } else if (!report.status.ok()) {
      return absl::Status(report.status.code(), absl::StrCat("unmount ", row->container_path, ": ",
                                                             report.status.message()));
    }
    lazy = report.lazy;
  }
  EventRecord e;
  e.type = "unmount";
  e.container_id = rec->id;
  e.image_id = rec->image_id;
  e.attributes = {{"name", rec->name},
                  {"source", row->host_path},
                  {"destination", row->container_path},
                  {"lazy", lazy ? "true" : "false"}};
  if (auto s = CommitEvents([&] { return repo.Delete(rec->id, row->container_path); }, {e});
      !s.ok()) {
    return s;
  }
  spdlog::info("unmounted {} in container {}{}", row->container_path, rec->id.substr(0, 12),
               lazy ? " (lazily: it was busy)" : "");
  return lazy;
}

absl::StatusOr<std::vector<v1::MountSpec>> Engine::ListMounts(const std::string& ref) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  auto rows = store::MountRepo(db_).List(found->id);
  if (!rows.ok()) return rows.status();
  std::vector<v1::MountSpec> out;
  for (const MountRecord& m : *rows) out.push_back(ToProto(m));
  return out;
}

absl::Status Engine::ApplyAddedMountsToConfig(const std::string& id) {
  auto rows = store::MountRepo(db_).List(id);
  if (!rows.ok()) return rows.status();
  const std::string path = ContainerDir(id) + "/config.json";
  auto text = linux::ReadFileBounded(path, 16 << 20);
  if (!text.ok()) return text.status();
  // Nothing added now or before (the common start): no need to parse the config at all.
  if (rows->empty() && text->find(kAddedMountsAnnotation) == std::string::npos) {
    return absl::OkStatus();
  }
  json config = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InternalError(absl::StrCat(path, ": not a JSON object"));
  }
  json& annotations = config["annotations"];
  if (!annotations.is_object()) annotations = json::object();
  json previous = json::array();
  if (auto it = annotations.find(kAddedMountsAnnotation);
      it != annotations.end() && it->is_string()) {
    previous = json::parse(it->get<std::string>(), nullptr, false);
    if (!previous.is_array()) previous = json::array();
  }
  if (rows->empty() && previous.empty()) return absl::OkStatus();

  json& mounts = config["mounts"];
  if (!mounts.is_array()) mounts = json::array();
  for (const json& old : previous) {
    for (auto it = mounts.begin(); it != mounts.end(); ++it) {
      if (*it == old) {
        mounts.erase(it);
        break;
      }
    }
  }
  json added = json::array();
  for (const MountRecord& m : *rows) {
    added.push_back(ConfigEntry(m));
    mounts.push_back(ConfigEntry(m));
  }
  if (added.empty()) {
    annotations.erase(kAddedMountsAnnotation);
  } else {
    annotations[kAddedMountsAnnotation] = added.dump();
  }
  return files::WriteFileAtomic(path, config.dump(2), 0600, /*durable=*/true);
}

}  // namespace kapsel::daemon
