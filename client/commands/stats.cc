// stats: live resource usage of running containers, one table a second like docker stats.
// Each sample is one Stats call; CPU % is the CPU time used between two samples over the wall
// time between them.

#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct StatsOptions {
  bool no_stream = false;
  std::vector<std::string> containers;
};

struct Sample {
  kapsel::v1::StatsResponse stats;
  absl::Time at;
};

std::string Percent(double value) { return absl::StrFormat("%.2f%%", value); }

int Stats(Context& ctx, const StatsOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  std::map<std::string, Sample> previous;
  const bool clear = !options.no_stream && isatty(STDOUT_FILENO);
  // --no-stream still takes two samples, a second apart, so that CPU % means something.
  for (int round = 0;; ++round) {
    Table table({"CONTAINER", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS", "OOM KILLS"});
    int alive = 0;
    for (const std::string& container : options.containers) {
      kapsel::v1::StatsRequest request;
      request.set_container(container);
      kapsel::v1::StatsResponse response;
      grpc::ClientContext call;
      std::unique_ptr<grpc::ClientReader<kapsel::v1::StatsResponse>> reader =
          stub->Stats(&call, request);
      bool got = reader->Read(&response);
      grpc::Status status = reader->Finish();
      if (!status.ok() || !got) {
        if (round == 0)
          return ctx.Fail(
              status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL, "no stats returned") : status);
        continue;  // it ended meanwhile
      }
      ++alive;
      Sample now{response, absl::Now()};
      double cpu = 0;
      if (auto it = previous.find(container); it != previous.end()) {
        double wall = absl::ToDoubleNanoseconds(now.at - it->second.at);
        double used = static_cast<double>(response.cpu_usage_nanos()) -
                      static_cast<double>(it->second.stats.cpu_usage_nanos());
        if (wall > 0 && used > 0) cpu = 100.0 * used / wall;
      }
      previous[container] = now;
      const uint64_t limit = response.memory_limit_bytes();
      // An unlimited cgroup reports a huge limit (v1) or none (v2 "max" reads as 0).
      const bool limited = limit > 0 && limit < (1ULL << 62);
      double mem_pct = limited ? 100.0 * static_cast<double>(response.memory_usage_bytes()) /
                                     static_cast<double>(limit)
                               : 0.0;
      table.AddRow(
          {ShortId(response.id()), Percent(cpu),
           absl::StrCat(BinarySize(static_cast<int64_t>(response.memory_usage_bytes())), " / ",
                        limited ? BinarySize(static_cast<int64_t>(limit)) : "unlimited"),
           Percent(mem_pct), absl::StrCat(response.pids_current()),
           absl::StrCat(response.oom_kills())});
    }
    if (alive == 0) return 0;
    if (!options.no_stream || round == 1) {
      if (clear) ctx.out() << "\033[2J\033[H";
      ctx.out() << table.Render() << std::flush;
    }
    if (options.no_stream && round == 1) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

void RegisterStats(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("stats", "Live resource usage of running containers");
  auto options = std::make_shared<StatsOptions>();
  cmd->add_flag("--no-stream", options->no_stream, "Print one table and exit");
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Stats(ctx, *options)); });
}

}  // namespace kapsel::client
