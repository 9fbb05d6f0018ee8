#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct StopOptions {
  int timeout_seconds = -1;  // -1: the daemon's default (10)
  std::vector<std::string> containers;
};

int Stop(Context& ctx, const StopOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, options.containers, [&](const std::string& container) {
    kapsel::v1::StopContainerRequest request;
    request.set_container(container);
    request.set_timeout_seconds(options.timeout_seconds);
    kapsel::v1::StopContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Stop(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterStop(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("stop", "Stop running containers");
  auto options = std::make_shared<StopOptions>();
  cmd->add_option("-t,--time", options->timeout_seconds,
                  "Seconds to wait for the stop signal before SIGKILL (default 10)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Stop(ctx, *options)); });
}

}  // namespace kapsel::client
