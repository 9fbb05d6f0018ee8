// cgroup v1: one hierarchy per controller, found in /proc/self/mountinfo (a hybrid host mounts them
// under a tmpfs at /sys/fs/cgroup, next to an empty cgroup2 at /sys/fs/cgroup/unified).

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/cgroups/manager.h"

namespace kapsel::runtime::cgroups {
namespace {

constexpr const char* kControllers[] = {"memory", "pids",    "cpu",     "cpuacct", "cpuset",
                                        "blkio",  "devices", "freezer", "hugetlb"};

// Maps each v1 controller to its mount point under root, from /proc/self/mountinfo.
std::map<std::string, std::string> FindControllers(const std::string& root) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ... mount_point ... - fstype source super_options
    auto sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::vector<std::string> pre = absl::StrSplit(line.substr(0, sep), ' ');
    std::vector<std::string> post = absl::StrSplit(line.substr(sep + 3), ' ');
    if (pre.size() < 5 || post.size() < 3 || post[0] != "cgroup") continue;
    const std::string& mount_point = pre[4];
    if (mount_point.rfind(root, 0) != 0) continue;
    for (absl::string_view opt : absl::StrSplit(post[2], ',')) {
      for (const char* c : kControllers) {
        if (opt == c) out.emplace(c, mount_point);
      }
    }
  }
  return out;
}

std::string DeviceRuleString(const DeviceRule& r) {
  auto num = [](int64_t v) { return v < 0 ? std::string("*") : absl::StrCat(v); };
  if (r.type == 'a') return absl::StrCat("a *:* ", r.access);
  return absl::StrCat(std::string(1, r.type), " ", num(r.major), ":", num(r.minor), " ", r.access);
}

class V1Manager : public Manager {
 public:
  explicit V1Manager(std::string root)
      : root_(std::move(root)), controllers_(FindControllers(root_)) {}

  Mode mode() const override { return Mode::kV1; }

  absl::Status Create(const std::string& path, const Resources& r) override {
    std::vector<std::string> created;
    absl::Cleanup rollback = [&] {
      for (auto it = created.rbegin(); it != created.rend(); ++it) rmdir(it->c_str());
    };
    for (const auto& [name, mount] : controllers_) {
      // Create each level so that cpuset levels can inherit cpus and mems from their parent.
      std::string dir = mount;
      for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
        std::string parent = dir;
        dir = absl::StrCat(dir, "/", part);
        if (mkdir(dir.c_str(), 0755) == 0) {
          created.push_back(dir);
          if (name == "cpuset") {
            for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
              auto v = ReadFile(absl::StrCat(parent, "/", f));
              if (!v.ok()) return v.status();
              std::string value(absl::StripAsciiWhitespace(*v));
              if (auto s = WriteFile(absl::StrCat(dir, "/", f), value); !s.ok()) return s;
            }
          }
        } else if (errno != EEXIST) {
          return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
        }
      }
    }
    if (auto s = Apply(path, r); !s.ok()) return s;
    std::move(rollback).Cancel();
    return absl::OkStatus();
  }

  absl::Status AddProcess(const std::string& path, pid_t pid) override {
    for (const auto& [name, mount] : controllers_) {
      if (auto s = WriteFile(absl::StrCat(mount, "/", path, "/cgroup.procs"), absl::StrCat(pid));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Destroy(const std::string& path) override {
    absl::Status result;
    for (const auto& [name, mount] : controllers_) {
      const std::string dir = absl::StrCat(mount, "/", path);
      if (access(dir.c_str(), F_OK) != 0) continue;
      // The kernel refuses to remove a cgroup with tasks in it; processes killed with SIGKILL leave
      // it within milliseconds, so retry for up to five seconds.
      for (int attempt = 0; attempt < 500; ++attempt) {
        if (rmdir(dir.c_str()) == 0 || errno == ENOENT) break;
        if (errno != EBUSY) {
          result.Update(absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", dir)));
          break;
        }
        KillAll(dir);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (attempt == 499) result.Update(absl::ErrnoToStatus(EBUSY, absl::StrCat("rmdir ", dir)));
      }
    }
    return result;
  }

  absl::Status Update(const std::string& path, const Resources& r) override {
    if (!Exists(path)) return absl::NotFoundError(absl::StrCat("no cgroup ", path));
    return Apply(path, r);
  }

  absl::Status Freeze(const std::string& path, bool frozen) override {
    const std::string dir = Dir("freezer", path);
    if (dir.empty())
      return absl::FailedPreconditionError("cgroup v1 controller freezer is not mounted");
    const std::string file = dir + "/freezer.state";
    const char* want = frozen ? "FROZEN" : "THAWED";
    // The kernel moves through FREEZING while tasks are being stopped and offers no notification
    // of the end; writing the state again retries tasks that were busy (as runc does).
    for (int attempt = 0; attempt < 1000; ++attempt) {
      if (auto s = WriteFile(file, want); !s.ok()) return s;
      auto state = ReadFile(file);
      if (!state.ok()) return state.status();
      if (absl::StripAsciiWhitespace(*state) == want) return absl::OkStatus();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (frozen) (void)WriteFile(file, "THAWED");
    return absl::DeadlineExceededError(absl::StrCat(file, ": did not reach ", want));
  }

  bool Exists(const std::string& path) override {
    for (const auto& [name, mount] : controllers_) {
      if (access(absl::StrCat(mount, "/", path).c_str(), F_OK) == 0) return true;
    }
    return false;
  }

  std::string MemoryDir(const std::string& path) const override { return Dir("memory", path); }

  absl::StatusOr<Stats> GetStats(const std::string& path) override {
    Stats st;
    auto num = [](const absl::StatusOr<std::string>& v) -> uint64_t {
      uint64_t n = 0;
      if (v.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*v), &n);
      return n;
    };
    if (auto m = Dir("memory", path); !m.empty()) {
      st.memory_usage = num(ReadFile(m + "/memory.usage_in_bytes"));
      st.memory_peak = num(ReadFile(m + "/memory.max_usage_in_bytes"));
      st.memory_limit = num(ReadFile(m + "/memory.limit_in_bytes"));
      if (auto oc = ReadFile(m + "/memory.oom_control"); oc.ok()) {
        for (absl::string_view line : absl::StrSplit(*oc, '\n')) {
          if (absl::ConsumePrefix(&line, "oom_kill ")) (void)absl::SimpleAtoi(line, &st.oom_kills);
        }
      }
    }
    if (auto c = Dir("cpuacct", path); !c.empty())
      st.cpu_usage = num(ReadFile(c + "/cpuacct.usage"));
    if (auto p = Dir("pids", path); !p.empty())
      st.pids_current = num(ReadFile(p + "/pids.current"));
    return st;
  }

 private:
  std::string Dir(const std::string& controller, const std::string& path) const {
    auto it = controllers_.find(controller);
    if (it == controllers_.end()) return "";
    return absl::StrCat(it->second, "/", path);
  }

  absl::Status Set(const std::string& controller, const std::string& path, const std::string& file,
                   const std::string& value) {
    std::string dir = Dir(controller, path);
    if (dir.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("cgroup v1 controller ", controller,
                                                        " is not mounted (needed for ", file, ")"));
    }
    return WriteFile(absl::StrCat(dir, "/", file), value);
  }

  absl::Status Apply(const std::string& path, const Resources& r) {
    if (!r.unified.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("linux.resources.unified.", r.unified.begin()->first, ": needs cgroup v2"));
    }
    if (r.memory_limit) {
      if (auto s = Set("memory", path, "memory.limit_in_bytes", absl::StrCat(*r.memory_limit));
          !s.ok())
        return s;
    }
    if (r.memory_swap) {
      std::string file = Dir("memory", path) + "/memory.memsw.limit_in_bytes";
      if (access(file.c_str(), F_OK) != 0) {
        return absl::FailedPreconditionError(
            "linux.resources.memory.swap: the kernel has no swap accounting "
            "(memory.memsw.limit_in_bytes)");
      }
      if (auto s = WriteFile(file, absl::StrCat(*r.memory_swap)); !s.ok()) return s;
    }
    if (r.memory_reservation) {
      if (auto s = Set("memory", path, "memory.soft_limit_in_bytes",
                       absl::StrCat(*r.memory_reservation));
          !s.ok()) {
        return s;
      }
    }
    if (r.cpu_shares) {
      if (auto s = Set("cpu", path, "cpu.shares", absl::StrCat(*r.cpu_shares)); !s.ok()) return s;
    }
    if (r.cpu_period) {
      if (auto s = Set("cpu", path, "cpu.cfs_period_us", absl::StrCat(*r.cpu_period)); !s.ok())
        return s;
    }
    if (r.cpu_quota) {
      if (auto s = Set("cpu", path, "cpu.cfs_quota_us", absl::StrCat(*r.cpu_quota)); !s.ok())
        return s;
    }
    if (!r.cpuset_cpus.empty()) {
      if (auto s = Set("cpuset", path, "cpuset.cpus", r.cpuset_cpus); !s.ok()) return s;
    }
    if (!r.cpuset_mems.empty()) {
      if (auto s = Set("cpuset", path, "cpuset.mems", r.cpuset_mems); !s.ok()) return s;
    }
    if (r.pids_limit) {
      std::string v = *r.pids_limit < 0 ? "max" : absl::StrCat(*r.pids_limit);
      if (auto s = Set("pids", path, "pids.max", v); !s.ok()) return s;
    }
    if (r.blkio_weight) {
      // blkio.weight belonged to CFQ, which left the kernel in 5.0; BFQ offers the same scale
      // (runc falls back the same way). With neither, the weight cannot be honoured.
      std::string dir = Dir("blkio", path);
      const char* file = "blkio.weight";
      if (!dir.empty() && access(absl::StrCat(dir, "/", file).c_str(), F_OK) != 0) {
        file = "blkio.bfq.weight";
        if (access(absl::StrCat(dir, "/", file).c_str(), F_OK) != 0) {
          return absl::FailedPreconditionError(
              "linux.resources.blockIO.weight: the host has no blkio.weight nor blkio.bfq.weight "
              "(neither the CFQ nor the BFQ I/O scheduler is available)");
        }
      }
      if (auto s = Set("blkio", path, file, absl::StrCat(*r.blkio_weight)); !s.ok()) return s;
    }
    for (const auto& h : r.hugepage_limits) {
      if (auto s = Set("hugetlb", path, absl::StrCat("hugetlb.", h.page_size, ".limit_in_bytes"),
                       absl::StrCat(h.limit));
          !s.ok()) {
        return s;
      }
    }
    for (const auto& rule : r.devices) {
      const char* file = rule.allow ? "devices.allow" : "devices.deny";
      if (auto s = Set("devices", path, file, DeviceRuleString(rule)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  static void KillAll(const std::string& dir) {
    auto procs = ReadFile(dir + "/cgroup.procs");
    if (!procs.ok()) return;
    for (absl::string_view line : absl::StrSplit(*procs, '\n', absl::SkipEmpty())) {
      int pid = 0;
      if (absl::SimpleAtoi(line, &pid) && pid > 0) kill(pid, SIGKILL);
    }
  }

  std::string root_;
  std::map<std::string, std::string> controllers_;
};

}  // namespace

std::unique_ptr<Manager> NewV1Manager(const std::string& root) {
  return std::make_unique<V1Manager>(root);
}

}  // namespace kapsel::runtime::cgroups
