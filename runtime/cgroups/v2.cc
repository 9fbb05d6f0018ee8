// cgroup v2: one unified hierarchy. Controllers must be enabled in every ancestor's
// cgroup.subtree_control before a child can use them (Documentation/admin-guide/cgroup-v2.rst).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/cgroups/manager.h"
#include "runtime/cgroups/v2_devices.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::runtime::cgroups {
namespace {

std::set<std::string> Controllers(const std::string& dir) {
  std::set<std::string> out;
  auto v = ReadFile(dir + "/cgroup.controllers");
  if (!v.ok()) return out;
  for (absl::string_view c :
       absl::StrSplit(absl::StripAsciiWhitespace(*v), ' ', absl::SkipEmpty())) {
    out.emplace(c);
  }
  return out;
}

class V2Manager : public Manager {
 public:
  explicit V2Manager(std::string root) : root_(std::move(root)) {}

  Mode mode() const override { return Mode::kV2; }

  absl::Status Create(const std::string& path, const Resources& r) override {
    std::vector<std::string> created;
    absl::Cleanup rollback = [&] {
      for (auto it = created.rbegin(); it != created.rend(); ++it) rmdir(it->c_str());
    };
    std::string dir = root_;
    for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
      // Delegate every available controller one level down. Errors are ignored here: a controller
      // that cannot be enabled shows up below as a missing interface file when it is needed.
      for (const char* c : {"cpu", "cpuset", "io", "memory", "pids", "hugetlb"}) {
        if (Controllers(dir).contains(c)) {
          (void)WriteFile(dir + "/cgroup.subtree_control", absl::StrCat("+", c));
        }
      }
      dir = absl::StrCat(dir, "/", part);
      if (mkdir(dir.c_str(), 0755) == 0) {
        created.push_back(dir);
      } else if (errno != EEXIST) {
        return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", dir));
      }
    }
    if (auto s = Apply(dir, r); !s.ok()) return s;
    std::move(rollback).Cancel();
    return absl::OkStatus();
  }

  absl::Status AddProcess(const std::string& path, pid_t pid) override {
    return WriteFile(absl::StrCat(root_, "/", path, "/cgroup.procs"), absl::StrCat(pid));
  }

  absl::Status Destroy(const std::string& path) override {
    const std::string dir = absl::StrCat(root_, "/", path);
    if (access(dir.c_str(), F_OK) != 0) return absl::OkStatus();
    // cgroup.kill (Linux 5.14) kills every process of the subtree at once.
    bool have_kill = access((dir + "/cgroup.kill").c_str(), F_OK) == 0;
    for (int attempt = 0; attempt < 500; ++attempt) {
      if (rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
      if (errno != EBUSY) return absl::ErrnoToStatus(errno, absl::StrCat("rmdir ", dir));
      if (have_kill) {
        (void)WriteFile(dir + "/cgroup.kill", "1");
      } else if (auto procs = ReadFile(dir + "/cgroup.procs"); procs.ok()) {
        for (absl::string_view line : absl::StrSplit(*procs, '\n', absl::SkipEmpty())) {
          int pid = 0;
          if (absl::SimpleAtoi(line, &pid) && pid > 0) kill(pid, SIGKILL);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return absl::ErrnoToStatus(EBUSY, absl::StrCat("rmdir ", dir));
  }

  absl::Status Update(const std::string& path, const Resources& r) override {
    if (!Exists(path)) return absl::NotFoundError(absl::StrCat("no cgroup ", path));
    return Apply(absl::StrCat(root_, "/", path), r);
  }

  absl::Status Freeze(const std::string& path, bool frozen) override {
    const std::string dir = absl::StrCat(root_, "/", path);
    // cgroup.events is pollable: the kernel raises POLLPRI when "frozen" changes.
    linux::UniqueFd events(open((dir + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC));
    if (!events) return absl::ErrnoToStatus(errno, absl::StrCat("open ", dir, "/cgroup.events"));
    if (auto s = WriteFile(dir + "/cgroup.freeze", frozen ? "1" : "0"); !s.ok()) return s;
    const std::string want = frozen ? "frozen 1" : "frozen 0";
    for (int round = 0; round < 100; ++round) {
      char buf[512];
      ssize_t n = pread(events.get(), buf, sizeof(buf) - 1, 0);
      if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("read ", dir, "/cgroup.events"));
      for (absl::string_view line : absl::StrSplit(absl::string_view(buf, n), '\n')) {
        if (line == want) return absl::OkStatus();
      }
      struct pollfd pfd = {events.get(), POLLPRI, 0};
      if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
        return absl::ErrnoToStatus(errno, "poll cgroup.events");
    }
    if (frozen) (void)WriteFile(dir + "/cgroup.freeze", "0");
    return absl::DeadlineExceededError(absl::StrCat(dir, ": not ", want, " after 10s"));
  }

  bool Exists(const std::string& path) override {
    return access(absl::StrCat(root_, "/", path).c_str(), F_OK) == 0;
  }

  std::string MemoryDir(const std::string& path) const override {
    return absl::StrCat(root_, "/", path);
  }

  absl::StatusOr<Stats> GetStats(const std::string& path) override {
    const std::string dir = absl::StrCat(root_, "/", path);
    Stats st;
    auto num = [](const absl::StatusOr<std::string>& v) -> uint64_t {
      uint64_t n = 0;
      if (v.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*v), &n);
      return n;
    };
    st.memory_usage = num(ReadFile(dir + "/memory.current"));
    st.memory_peak = num(ReadFile(dir + "/memory.peak"));
    st.memory_limit = num(ReadFile(dir + "/memory.max"));
    st.pids_current = num(ReadFile(dir + "/pids.current"));
    auto keyed = [](const absl::StatusOr<std::string>& v, absl::string_view key) -> uint64_t {
      uint64_t n = 0;
      if (!v.ok()) return 0;
      for (absl::string_view line : absl::StrSplit(*v, '\n')) {
        std::vector<absl::string_view> kv = absl::StrSplit(line, ' ');
        if (kv.size() == 2 && kv[0] == key) (void)absl::SimpleAtoi(kv[1], &n);
      }
      return n;
    };
    st.cpu_usage = keyed(ReadFile(dir + "/cpu.stat"), "usage_usec") * 1000;
    st.oom_kills = keyed(ReadFile(dir + "/memory.events"), "oom_kill");
    return st;
  }

 private:
  absl::Status Apply(const std::string& dir, const Resources& r) {
    auto set = [&](const char* file, const std::string& value) {
      return WriteFile(absl::StrCat(dir, "/", file), value);
    };
    if (r.memory_limit) {
      if (auto s = set("memory.max", *r.memory_limit < 0 ? "max" : absl::StrCat(*r.memory_limit));
          !s.ok())
        return s;
    }
    if (r.memory_swap) {
      // v1 counts memory + swap; v2's memory.swap.max counts swap alone.
      std::string v = "max";
      if (*r.memory_swap >= 0) v = absl::StrCat(*r.memory_swap - r.memory_limit.value_or(0));
      if (auto s = set("memory.swap.max", v); !s.ok()) return s;
    }
    if (r.memory_reservation) {
      if (auto s = set("memory.low", absl::StrCat(*r.memory_reservation)); !s.ok()) return s;
    }
    // memory.oom.group stays at the kernel's default 0: with 1, an OOM in any process kills every
    // process of the container, its init too, where v1 (and runc and crun on v2) kill only the
    // victim the OOM killer chose.
    if (r.cpu_shares) {
      // The conversion runc and crun use: shares [2, 262144] onto weight [1, 10000].
      uint64_t weight = 1 + ((*r.cpu_shares - 2) * 9999) / 262142;
      if (auto s = set("cpu.weight", absl::StrCat(weight)); !s.ok()) return s;
    }
    if (r.cpu_quota || r.cpu_period) {
      std::string quota = (!r.cpu_quota || *r.cpu_quota < 0) ? "max" : absl::StrCat(*r.cpu_quota);
      if (auto s = set("cpu.max", absl::StrCat(quota, " ", r.cpu_period.value_or(100000))); !s.ok())
        return s;
    }
    if (!r.cpuset_cpus.empty()) {
      if (auto s = set("cpuset.cpus", r.cpuset_cpus); !s.ok()) return s;
    }
    if (!r.cpuset_mems.empty()) {
      if (auto s = set("cpuset.mems", r.cpuset_mems); !s.ok()) return s;
    }
    if (r.pids_limit) {
      if (auto s = set("pids.max", *r.pids_limit < 0 ? "max" : absl::StrCat(*r.pids_limit));
          !s.ok())
        return s;
    }
    for (const auto& [file, value] : r.unified) {
      if (auto s = set(file.c_str(), value); !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat("linux.resources.unified.", file, ": ", s.message()));
      }
    }
    for (const auto& h : r.hugepage_limits) {
      if (auto s =
              set(absl::StrCat("hugetlb.", h.page_size, ".max").c_str(), absl::StrCat(h.limit));
          !s.ok()) {
        return s;
      }
    }
    if (r.blkio_weight) {
      // BFQ's io.bfq.weight takes blkio weights [10, 1000] as they are; io.weight (blk-iocost)
      // spans [1, 10000] and gets the linear conversion runc and crun use.
      if (access(absl::StrCat(dir, "/io.bfq.weight").c_str(), F_OK) == 0) {
        if (auto s = set("io.bfq.weight", absl::StrCat(*r.blkio_weight)); !s.ok()) return s;
      } else if (access(absl::StrCat(dir, "/io.weight").c_str(), F_OK) == 0) {
        uint64_t weight = 1 + (static_cast<uint64_t>(*r.blkio_weight) - 10) * 9999 / 990;
        if (auto s = set("io.weight", absl::StrCat("default ", weight)); !s.ok()) return s;
      } else {
        return absl::FailedPreconditionError(
            "linux.resources.blockIO.weight: the io controller has neither io.bfq.weight nor "
            "io.weight here (no BFQ scheduler, no blk-iocost)");
      }
    }
    if (!r.devices.empty()) {
      // No devices controller on v2: the allow-list is a BPF program attached to the cgroup.
      if (auto s = ApplyDeviceRules(dir, r.devices); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<Manager> NewV2Manager(const std::string& root) {
  return std::make_unique<V2Manager>(root);
}

}  // namespace kapsel::runtime::cgroups
