#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct RestartOptions {
  int timeout_seconds = -1;  // -1: the container's stop timeout
  std::vector<std::string> containers;
};

int Restart(Context& ctx, const RestartOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, options.containers, [&](const std::string& container) {
    kapsel::v1::RestartContainerRequest request;
    request.set_container(container);
    request.set_timeout_seconds(options.timeout_seconds);
    kapsel::v1::RestartContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Restart(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterRestart(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("restart", "Restart containers");
  auto options = std::make_shared<RestartOptions>();
  cmd->add_option("-t,--time", options->timeout_seconds,
                  "Seconds to wait for the stop signal before SIGKILL")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Restart(ctx, *options)); });
}

}  // namespace kapsel::client
