// The engine's lifecycle operations beyond create, start, stop and remove: pause and unpause,
// restart, rename, update of limits, stats and top, and the restart policies.

#include <errno.h>
#include <fcntl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "daemon/atomic_file.h"
#include "daemon/engine.h"
#include "daemon/engine_internal.h"
#include "daemon/lifecycle_policy.h"
#include "daemon/log_format.h"
#include "daemon/oci_spec_builder.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/syscalls.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

using internal::IsActive;
using internal::SpecOf;
using store::ContainerRecord;
using store::EventRecord;

absl::Status NotRunning(const ContainerRecord& rec) {
  return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is not running"));
}

// /proc files and config.json; "" when unreadable.
std::string ReadSmallFile(const std::string& path) {
  auto text = linux::ReadFileBounded(path, 16 << 20);
  return text.ok() ? *std::move(text) : "";
}

// /proc/<pid>/stat, /status and /cmdline of one process; false when it is gone.
bool ReadProcess(int pid, ProcessInfo* out) {
  const std::string base = absl::StrCat("/proc/", pid);
  std::string stat = ReadSmallFile(base + "/stat");
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
  // Fields from 3 (state) on; utime and stime are fields 14 and 15, rss (pages) field 24.
  std::vector<std::string> f = absl::StrSplit(stat.substr(close_paren + 2), ' ');
  if (f.size() < 22) return false;
  out->pid = pid;
  out->state = f[0];
  (void)absl::SimpleAtoi(f[1], &out->ppid);
  uint64_t utime = 0, stime = 0, rss_pages = 0;
  (void)absl::SimpleAtoi(f[11], &utime);
  (void)absl::SimpleAtoi(f[12], &stime);
  (void)absl::SimpleAtoi(f[21], &rss_pages);
  const uint64_t ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  out->cpu_time_nanos = (utime + stime) * (1000000000ULL / ticks);
  out->rss_bytes = rss_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  for (absl::string_view line : absl::StrSplit(ReadSmallFile(base + "/status"), '\n')) {
    if (absl::ConsumePrefix(&line, "Uid:")) {
      std::vector<absl::string_view> ids = absl::StrSplit(
          absl::StripAsciiWhitespace(line), absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (!ids.empty()) (void)absl::SimpleAtoi(ids[0], &out->uid);
    }
  }
  std::string cmdline = ReadSmallFile(base + "/cmdline");
  for (absl::string_view arg : absl::StrSplit(cmdline, '\0', absl::SkipEmpty())) {
    out->args.emplace_back(arg);
  }
  // Kernel threads and zombies have no command line: show the name, as ps does.
  if (out->args.empty()) {
    out->args.push_back(
        absl::StrCat("[", stat.substr(stat.find('(') + 1, close_paren - stat.find('(') - 1), "]"));
  }
  return true;
}

// Merges the non-zero limits of `update` into `current`.
void MergeResources(const v1::Resources& update, v1::Resources* current) {
  if (update.memory_limit_bytes() != 0)
    current->set_memory_limit_bytes(update.memory_limit_bytes());
  if (update.memory_swap_bytes() != 0) current->set_memory_swap_bytes(update.memory_swap_bytes());
  if (update.cpus() != 0) current->set_cpus(update.cpus());
  if (update.cpu_shares() != 0) current->set_cpu_shares(update.cpu_shares());
  if (!update.cpuset_cpus().empty()) current->set_cpuset_cpus(update.cpuset_cpus());
  if (update.pids_limit() != 0) current->set_pids_limit(update.pids_limit());
}

}  // namespace

absl::Status Engine::Pause(const std::string& ref) {
  return WithContainer(ref, [&](store::ContainerRecord& rec) -> absl::Status {
    if (rec.state == "paused") {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", rec.name, " is already paused"));
    }
    if (rec.state != "running") return NotRunning(rec);
    const std::string cgroup = CgroupOf(rec.id);
    if (auto s = cgroups_->Freeze(cgroup, true); !s.ok()) return s;
    rec.state = "paused";
    EventRecord e;
    e.type = "pause";
    if (auto s = Commit(rec, e); !s.ok()) {
      (void)cgroups_->Freeze(cgroup, false);
      return s;
    }
    return absl::OkStatus();
  });
}

absl::Status Engine::Unpause(const std::string& ref) {
  return WithContainer(ref, [&](store::ContainerRecord& rec) -> absl::Status {
    if (rec.state != "paused") {
      return absl::FailedPreconditionError(absl::StrCat("container ", rec.name, " is not paused"));
    }
    const std::string cgroup = CgroupOf(rec.id);
    if (auto s = cgroups_->Freeze(cgroup, false); !s.ok()) return s;
    rec.state = "running";
    EventRecord e;
    e.type = "unpause";
    if (auto s = Commit(rec, e); !s.ok()) {
      (void)cgroups_->Freeze(cgroup, true);
      return s;
    }
    return absl::OkStatus();
  });
}

absl::Status Engine::Restart(const std::string& ref, int timeout_seconds) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  if (found->state == "removing") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", found->name, " is being removed"));
  }
  if (IsActive(found->state)) {
    if (auto s = Stop(found->id, timeout_seconds); !s.ok()) return s;
  }
  if (auto s = Start(found->id); !s.ok()) return s;
  EventRecord e;
  e.type = "restart";
  e.container_id = found->id;
  e.image_id = found->image_id;
  e.attributes = {{"name", found->name}};
  return CommitEvents([] { return absl::OkStatus(); }, {e});
}

absl::Status Engine::Rename(const std::string& ref, const std::string& new_name) {
  if (new_name.empty()) return absl::InvalidArgumentError("new name: must be given");
  if (!ValidContainerName(new_name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", new_name, "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"));
  }
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  if (rec->name == new_name) {
    return absl::InvalidArgumentError(
        absl::StrCat("container ", rec->name, " already has the name \"", new_name, "\""));
  }
  const std::string old_name = rec->name;
  rec->name = new_name;
  EventRecord e;
  e.type = "rename";
  e.attributes["old_name"] = old_name;
  // The names column is UNIQUE: a name taken meanwhile fails the update with AlreadyExists.
  if (auto s = Commit(*rec, e); !s.ok()) return s;
  // The new name in the /etc/hosts of its peers on user networks.
  RefreshPeerHosts(rec->id);
  return absl::OkStatus();
}

absl::Status Engine::Update(const std::string& ref, const v1::Resources& resources) {
  auto found = containers_.Resolve(ref);
  if (!found.ok()) return found.status();
  absl::MutexLock lock(ContainerLock(found->id));
  auto rec = containers_.Get(found->id);
  if (!rec.ok()) return rec.status();
  if (rec->state == "removing") {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", rec->name, " is being removed"));
  }
  v1::ContainerSpec spec = SpecOf(*rec);
  const v1::Resources old = spec.resources();
  MergeResources(resources, spec.mutable_resources());
  // Validation first: a bad value changes nothing.
  auto limits = ResourceLimitsJson(spec.resources());
  if (!limits.ok()) return limits.status();
  auto old_limits = ResourceLimitsJson(old);
  if (!old_limits.ok()) return old_limits.status();

  // The bundle's config.json, so that the next start (restart policy, restart) keeps the limits.
  const std::string config_path = ContainerDir(rec->id) + "/config.json";
  nlohmann::json config = nlohmann::json::parse(ReadSmallFile(config_path), nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return absl::InternalError(absl::StrCat(config_path, ": not valid JSON"));
  }
  nlohmann::json& res = config["linux"]["resources"];
  for (const char* key : {"memory", "cpu", "pids"}) {
    if (limits->contains(key)) {
      res[key] = (*limits)[key];
    } else {
      res.erase(key);
    }
  }

  if (IsActive(rec->state)) {
    auto parsed = runtime::ParseLinuxResources(limits->dump());
    if (!parsed.ok()) return parsed.status();
    if (auto s = cgroups_->Update(CgroupOf(rec->id), *parsed); !s.ok()) {
      // Some files may have been written: put the old limits back.
      if (auto previous = runtime::ParseLinuxResources(old_limits->dump()); previous.ok())
        (void)cgroups_->Update(CgroupOf(rec->id), *previous);
      return absl::Status(s.code(), absl::StrCat("update ", rec->name, ": ", s.message()));
    }
  }
  if (auto s = files::WriteFileAtomic(config_path, config.dump(2), 0600, /*durable=*/true);
      !s.ok()) {
    return s;
  }
  std::string spec_json;
  if (auto s = google::protobuf::util::MessageToJsonString(spec, &spec_json); !s.ok()) {
    return absl::InternalError(absl::StrCat("encode spec: ", s.ToString()));
  }
  rec->spec_json = spec_json;
  EventRecord e;
  e.type = "update";
  return Commit(*rec, e);
}

absl::StatusOr<runtime::cgroups::Stats> Engine::Stats(const std::string& ref) {
  auto rec = containers_.Resolve(ref);
  if (!rec.ok()) return rec.status();
  if (!IsActive(rec->state)) return NotRunning(*rec);
  return cgroups_->GetStats(CgroupOf(rec->id));
}

absl::StatusOr<std::vector<ProcessInfo>> Engine::Top(const std::string& ref) {
  auto rec = containers_.Resolve(ref);
  if (!rec.ok()) return rec.status();
  if (!IsActive(rec->state)) return NotRunning(*rec);
  // Every process of the container is in its cgroup (the memory hierarchy on v1, the one on v2).
  const std::string procs_path = cgroups_->MemoryDir(CgroupOf(rec->id)) + "/cgroup.procs";
  std::ifstream in(procs_path);
  if (!in) return absl::ErrnoToStatus(errno, absl::StrCat("open ", procs_path));
  std::vector<ProcessInfo> out;
  std::string line;
  while (std::getline(in, line)) {
    int pid = 0;
    if (!absl::SimpleAtoi(line, &pid)) continue;
    ProcessInfo p;
    if (ReadProcess(pid, &p)) out.push_back(std::move(p));
  }
  return out;
}

void Engine::MaybeScheduleRestart(const ContainerRecord& rec) {
  if (rec.state != "exited") return;
  const v1::ContainerSpec spec = SpecOf(rec);
  auto policy = ParseRestartPolicy(spec.restart_policy());
  if (!policy.ok() || !policy->ShouldRestart(rec.exit_code, rec.restart_count, rec.stopped_by_user))
    return;
  // Docker's back-off: 100 ms doubling per restart, back to 100 ms after a run of 10 s or more.
  const bool ran_long = rec.finished_at - rec.started_at >= 10LL * 1000 * 1000 * 1000;
  const absl::Duration delay = RestartDelay(ran_long ? 0 : rec.restart_count);
  linux::UniqueFd timer(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer) {
    spdlog::error("restart of {}: timerfd_create: {}", rec.id.substr(0, 12), strerror(errno));
    return;
  }
  struct itimerspec when = {};
  when.it_value = absl::ToTimespec(delay);
  if (timerfd_settime(timer.get(), 0, &when, nullptr) != 0) {
    spdlog::error("restart of {}: timerfd_settime: {}", rec.id.substr(0, 12), strerror(errno));
    return;
  }
  {
    absl::MutexLock lock(&exit_mu_);
    restarting_.insert(rec.id);
  }
  const std::string id = rec.id;
  spdlog::info("container {} restarts in {} (restart policy {})", id.substr(0, 12),
               absl::FormatDuration(delay), spec.restart_policy());
  if (auto s = supervisor_.WatchOnce(std::move(timer), [this, id](int) { OnRestartTimer(id); });
      !s.ok()) {
    spdlog::error("restart of {}: {}", id.substr(0, 12), std::string(s.message()));
    absl::MutexLock lock(&exit_mu_);
    restarting_.erase(id);
  }
}

void Engine::OnRestartTimer(const std::string& id) {
  {
    // Cancelled meanwhile: stopped, started by hand, or removed.
    absl::MutexLock lock(&exit_mu_);
    if (restarting_.erase(id) == 0) return;
  }
  absl::MutexLock lock(ContainerLock(id));
  auto rec = containers_.Get(id);
  if (!rec.ok() || rec->state != "exited" || rec->stopped_by_user) return;
  rec->restart_count++;
  const int count = rec->restart_count;
  const std::string name = rec->name, image_id = rec->image_id;
  absl::Status s = StartLocked(*std::move(rec));
  EventRecord e;
  e.type = "restart";
  e.container_id = id;
  e.image_id = image_id;
  e.attributes = {{"name", name}, {"restart_count", absl::StrCat(count)}, {"policy", "true"}};
  if (!s.ok()) e.attributes["error"] = std::string(s.message());
  if (auto c = CommitEvents([] { return absl::OkStatus(); }, {e}); !c.ok()) {
    spdlog::error("record restart of {}: {}", id.substr(0, 12), std::string(c.message()));
  }
  if (!s.ok()) {
    spdlog::warn("restart of {} failed: {}", id.substr(0, 12), std::string(s.message()));
    // A start that failed left an exit behind: the policy decides again, with a longer delay.
    if (auto failed = containers_.Get(id); failed.ok()) MaybeScheduleRestart(*failed);
  }
}

void Engine::StartWithDaemon() {
  auto all = containers_.List();
  if (!all.ok()) return;
  for (ContainerRecord& rec : *all) {
    if (rec.state != "exited") continue;
    auto policy = ParseRestartPolicy(SpecOf(rec).restart_policy());
    if (!policy.ok()) continue;
    if (policy->StartsWithDaemon(rec.stopped_by_user)) {
      // Back with the daemon: a fresh run as far as the policy's counters go.
      absl::MutexLock lock(ContainerLock(rec.id));
      rec.stopped_by_user = false;
      rec.restart_count = 0;
      spdlog::info("starting {} with the daemon (restart policy {})", rec.id.substr(0, 12),
                   SpecOf(rec).restart_policy());
      if (auto s = StartLocked(rec); !s.ok()) {
        spdlog::warn("start of {}: {}", rec.id.substr(0, 12), std::string(s.message()));
      }
    } else {
      // An exit the daemon did not see (it was down) still gets its on-failure restart.
      MaybeScheduleRestart(rec);
    }
  }
}

}  // namespace kapsel::daemon
