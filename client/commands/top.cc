#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

// CPU time as ps prints it: [DD-]HH:MM:SS.
std::string CpuTime(uint64_t nanos) {
  uint64_t s = nanos / 1000000000ULL;
  return absl::StrFormat("%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

int Top(Context& ctx, const std::string& container) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::TopRequest request;
  request.set_container(container);
  kapsel::v1::TopResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Top(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  Table table({"UID", "PID", "PPID", "STAT", "TIME", "RSS", "CMD"});
  for (const auto& p : response.processes()) {
    table.AddRow({absl::StrCat(p.uid()), absl::StrCat(p.pid()), absl::StrCat(p.ppid()), p.state(),
                  CpuTime(p.cpu_time_nanos()), BinarySize(static_cast<int64_t>(p.rss_bytes())),
                  absl::StrJoin(p.args(), " ")});
  }
  ctx.out() << table.Render();
  return 0;
}

}  // namespace

void RegisterTop(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("top", "Show the processes of a running container");
  auto container = std::make_shared<std::string>();
  cmd->add_option("CONTAINER", *container, "Container id or name")->required();
  cmd->callback([&ctx, container] { ctx.set_exit_code(Top(ctx, *container)); });
}

}  // namespace kapsel::client
