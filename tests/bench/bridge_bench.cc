// The network half of a container's create and remove, without the daemon: the time of
// NetworkManager::Prepare and Release (daemon/network_manager.h) for one container, per network
// mode. Not a test: ctest never runs it. Needs root.
//
// It first moves itself into a network and a mount namespace of its own (unshare(2)), so the
// bridges, veths, the nft table and the namespace bind mounts it makes never touch the host's,
// and an e2e kapseld may run beside it; what it made is removed at the end all the same.
//
// usage: bridge_bench [--iterations N] [--warmup N] [--modes none,bridge,network,port]
//                     [--json FILE]
//   none     --network none: a namespace with lo up
//   bridge   the default bridge: namespace, veth pair, address, route, nft table
//   network  a user network (its own bridge and subnet)
//   port     the default bridge with -p 127.0.0.1:18080:80 (a reserved host port, DNAT rules)
// The modes run interleaved, one container of each per round, after the warm-up rounds.
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "daemon/network_manager.h"
#include "nlohmann/json.hpp"
#include "runtime/linux/syscalls.h"
#include "runtime/network/netlink.h"
#include "runtime/network/netns.h"
#include "runtime/network/nft.h"
#include "store/database.h"

namespace kapsel {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUserNetwork[] = "benchnet";
constexpr char kUserSubnet[] = "10.213.1.0/24";
constexpr char kPublish[] = "127.0.0.1:18080:80";

struct Options {
  int iterations = 200;
  int warmup = 5;
  std::vector<std::string> modes = {"none", "bridge", "network", "port"};
  std::string json_path;
};

struct Samples {
  std::vector<double> prepare, release, total;  // ms
};

struct Summary {
  double median = 0, p90 = 0, p99 = 0, mean = 0;  // ms
};

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Nearest-rank quantile of the sorted `xs` (non-empty).
double Quantile(const std::vector<double>& xs, double q) {
  size_t rank = static_cast<size_t>(std::ceil(q * xs.size()));
  return xs[std::clamp<size_t>(rank, 1, xs.size()) - 1];
}

Summary Summarize(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  Summary s;
  if (xs.empty()) return s;
  s.median = xs.size() % 2 ? xs[xs.size() / 2] : (xs[xs.size() / 2 - 1] + xs[xs.size() / 2]) / 2;
  s.p90 = Quantile(xs, 0.90);
  s.p99 = Quantile(xs, 0.99);
  s.mean = std::accumulate(xs.begin(), xs.end(), 0.0) / xs.size();
  return s;
}

// Prepare's `mode` and `publish` for a bench mode.
struct ModeArgs {
  std::string network_mode;
  std::vector<std::string> publish;
};

absl::StatusOr<ModeArgs> ArgsOf(const std::string& mode) {
  if (mode == "none") return ModeArgs{"none", {}};
  if (mode == "bridge") return ModeArgs{"", {}};
  if (mode == "network") return ModeArgs{kUserNetwork, {}};
  if (mode == "port") return ModeArgs{"", {kPublish}};
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mode \"", mode, "\" (none, bridge, network, port)"));
}

// A private network and mount namespace for the whole process. Must run before any thread is
// started: unshare(CLONE_NEWNS) fails with EINVAL in a multithreaded process (unshare(2)), and
// threads started afterwards (NetworkManager's netns helpers) inherit both namespaces.
absl::Status IsolateFromHost() {
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    return linux::ErrnoStatus(errno, "unshare(CLONE_NEWNET|CLONE_NEWNS)");
  }
  // Without this, the namespace bind mounts below would propagate to the host's shared mounts
  // (mount_namespaces(7): a new namespace copies the propagation types of the old one).
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return linux::ErrnoStatus(errno, "mount / MS_REC|MS_PRIVATE");
  }
  // A new network namespace has lo down, and a host port on 127.0.0.1 cannot be bound then.
  absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
  if (!sock.ok()) return sock.status();
  return sock->SetUp("lo");
}

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)) {}
  ~Bench() { Cleanup(); }

  absl::Status SetUp() {
    char dir_template[] = "/tmp/kapsel-bridge-bench.XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
      return linux::ErrnoStatus(errno, absl::StrCat("mkdtemp ", dir_template));
    }
    dir_ = dir_template;
    absl::StatusOr<std::unique_ptr<store::Database>> db =
        store::Database::Open(absl::StrCat(dir_, "/kapsel.db"));
    if (!db.ok()) return db.status();
    db_ = *std::move(db);
    // The daemon's defaults (names, subnet, MTU), except ip_forward: the bench writes no sysctl
    // beyond its own bridges' route_localnet.
    daemon::NetworkManagerOptions net;
    net.netns_dir = absl::StrCat(dir_, "/netns");
    net.enable_ip_forward = false;
    options_net_ = net;
    absl::StatusOr<std::unique_ptr<daemon::NetworkManager>> manager =
        daemon::NetworkManager::Create(db_.get(), net);
    if (!manager.ok()) return manager.status();
    manager_ = *std::move(manager);
    absl::StatusOr<store::NetworkRecord> user =
        manager_->CreateNetwork(kUserNetwork, kUserSubnet, /*internal=*/false);
    if (!user.ok()) return user.status();
    user_bridge_ = user->bridge;
    return absl::OkStatus();
  }

  // One container's Prepare and Release in `mode`; records the times when `record`.
  absl::Status Once(const std::string& mode, bool record) {
    absl::StatusOr<ModeArgs> args = ArgsOf(mode);
    if (!args.ok()) return args.status();
    // Ids differ in their first 12 digits, which name the veths, as random ids do.
    std::string id = absl::StrFormat("%012x", ++counter_) + std::string(52, 'b');
    live_.push_back(id);
    Clock::time_point t0 = Clock::now();
    absl::StatusOr<daemon::NetworkAttachment> a =
        manager_->Prepare(id, args->network_mode, args->publish);
    double prepare = MsSince(t0);
    if (!a.ok()) return Annotate(a.status(), absl::StrCat("prepare (", mode, ")"));
    Clock::time_point t1 = Clock::now();
    absl::Status released = manager_->Release(id);
    double release = MsSince(t1);
    if (!released.ok()) return Annotate(released, absl::StrCat("release (", mode, ")"));
    live_.pop_back();
    if (record) {
      Samples& s = samples_[mode];
      s.prepare.push_back(prepare);
      s.release.push_back(release);
      s.total.push_back(prepare + release);
    }
    return absl::OkStatus();
  }

  absl::Status Run() {
    for (int round = 0; round < options_.warmup + options_.iterations; ++round) {
      for (const std::string& mode : options_.modes) {
        if (absl::Status s = Once(mode, round >= options_.warmup); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  // What is left in the bench's namespace besides lo and the bridges (there should be nothing).
  absl::StatusOr<std::vector<std::string>> Leftovers() {
    std::vector<std::string> out;
    absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
    if (!sock.ok()) return sock.status();
    absl::StatusOr<std::vector<network::LinkInfo>> links = sock->ListLinks();
    if (!links.ok()) return links.status();
    for (const network::LinkInfo& l : *links) {
      if (l.name != "lo" && l.name != options_net_.default_bridge && l.name != user_bridge_) {
        out.push_back(absl::StrCat("link ", l.name));
      }
    }
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(options_net_.netns_dir, ec)) {
      out.push_back(absl::StrCat("namespace ", e.path().string()));
    }
    return out;
  }

  void Print(FILE* out) const {
    absl::FPrintF(out, "%-8s %-8s %9s %9s %9s %9s\n", "mode", "phase", "median", "p90", "p99",
                  "mean");
    for (const std::string& mode : options_.modes) {
      auto it = samples_.find(mode);
      if (it == samples_.end()) continue;
      for (const auto& [phase, xs] : Phases(it->second)) {
        Summary s = Summarize(*xs);
        absl::FPrintF(out, "%-8s %-8s %9.3f %9.3f %9.3f %9.3f\n", mode, phase, s.median, s.p90,
                      s.p99, s.mean);
      }
    }
  }

  nlohmann::json Json() const {
    nlohmann::json j;
    j["iterations"] = options_.iterations;
    j["warmup"] = options_.warmup;
    j["unit"] = "ms";
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) == 3) j["loadavg_at_end"] = {load[0], load[1], load[2]};
    for (const std::string& mode : options_.modes) {
      auto it = samples_.find(mode);
      if (it == samples_.end()) continue;
      for (const auto& [phase, xs] : Phases(it->second)) {
        Summary s = Summarize(*xs);
        j["modes"][mode][phase] = {{"median_ms", s.median},
                                   {"p90_ms", s.p90},
                                   {"p99_ms", s.p99},
                                   {"mean_ms", s.mean},
                                   {"samples_ms", *xs}};
      }
    }
    return j;
  }

 private:
  static std::vector<std::pair<std::string, const std::vector<double>*>> Phases(const Samples& s) {
    return {{"prepare", &s.prepare}, {"release", &s.release}, {"total", &s.total}};
  }

  static absl::Status Annotate(const absl::Status& status, absl::string_view what) {
    return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
  }

  // Everything the bench made: containers cut off by an error, the user network, the default
  // bridge, the nft table, the database and the temp dir. Errors are reported, not fatal.
  void Cleanup() {
    if (manager_ != nullptr) {
      for (const std::string& id : live_) Report(manager_->Release(id), "release");
      if (!user_bridge_.empty()) Report(manager_->RemoveNetwork(kUserNetwork), "network rm");
      manager_.reset();
      absl::StatusOr<network::RouteSocket> sock = network::RouteSocket::Open();
      if (sock.ok()) {
        absl::Status s = sock->DeleteLink(options_net_.default_bridge);
        if (!absl::IsNotFound(s)) Report(s, "delete bridge");
      }
      absl::StatusOr<network::Nftables> nft = network::Nftables::Create();
      Report(nft.ok() ? nft->DeleteTable(options_net_.nft_table) : nft.status(), "nft");
    }
    db_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      if (ec) absl::FPrintF(stderr, "bridge_bench: remove %s: %s\n", dir_, ec.message());
      dir_.clear();
    }
  }

  static void Report(const absl::Status& s, absl::string_view what) {
    if (!s.ok()) absl::FPrintF(stderr, "bridge_bench: cleanup: %s: %s\n", what, s.ToString());
  }

  Options options_;
  daemon::NetworkManagerOptions options_net_;
  std::string dir_;
  std::string user_bridge_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<daemon::NetworkManager> manager_;
  std::map<std::string, Samples> samples_;
  std::vector<std::string> live_;  // prepared and not yet released
  uint64_t counter_ = 0;
};

int Usage() {
  std::fprintf(stderr,
               "usage: bridge_bench [--iterations N] [--warmup N] "
               "[--modes none,bridge,network,port] [--json FILE]\n");
  return 2;
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return Usage();
    if (i + 1 >= argc) return Usage();
    std::string value = argv[++i];
    if (arg == "--iterations") {
      if (!absl::SimpleAtoi(value, &options.iterations) || options.iterations < 1) return Usage();
    } else if (arg == "--warmup") {
      if (!absl::SimpleAtoi(value, &options.warmup) || options.warmup < 0) return Usage();
    } else if (arg == "--modes") {
      options.modes = absl::StrSplit(value, ',', absl::SkipEmpty());
      for (const std::string& mode : options.modes) {
        if (absl::Status s = ArgsOf(mode).status(); !s.ok()) {
          absl::FPrintF(stderr, "bridge_bench: %s\n", s.message());
          return 2;
        }
      }
    } else if (arg == "--json") {
      options.json_path = value;
    } else {
      return Usage();
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bridge_bench: needs root (namespaces, netlink, nftables)\n");
    return 1;
  }
  if (absl::Status s = IsolateFromHost(); !s.ok()) {
    absl::FPrintF(stderr, "bridge_bench: %s\n", s.ToString());
    return 1;
  }
  Bench bench(options);
  absl::Status status = bench.SetUp();
  if (status.ok()) status = bench.Run();
  if (!status.ok()) {
    absl::FPrintF(stderr, "bridge_bench: %s\n", status.ToString());
    return 1;
  }
  absl::StatusOr<std::vector<std::string>> left = bench.Leftovers();
  if (!left.ok() || !left->empty()) {
    absl::FPrintF(stderr, "bridge_bench: left behind: %s\n",
                  left.ok() ? absl::StrJoin(*left, ", ") : left.status().ToString());
    return 1;
  }
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  absl::PrintF(
      "Prepare + Release of one container's network, %d interleaved rounds after %d warm-up "
      "(ms; load average %.2f %.2f %.2f)\n",
      options.iterations, options.warmup, load[0], load[1], load[2]);
  bench.Print(stdout);
  if (!options.json_path.empty()) {
    std::ofstream out(options.json_path);
    out << bench.Json().dump(1) << "\n";
    if (!out) {
      absl::FPrintF(stderr, "bridge_bench: write %s failed\n", options.json_path);
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace kapsel

int main(int argc, char** argv) { return kapsel::Main(argc, argv); }
