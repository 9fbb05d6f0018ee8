#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "client/output.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

int Wait(Context& ctx, const std::vector<std::string>& containers) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, containers, [&](const std::string& container) {
    kapsel::v1::WaitContainerRequest request;
    request.set_container(container);
    kapsel::v1::WaitContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Wait(&call, request, &response);
    if (status.ok()) {
      ctx.out() << ExitCodeOf(response.exit().exit_code(), response.exit().signal()) << std::endl;
    }
    return status;
  });
}

}  // namespace

void RegisterWait(CLI::App& app, Context& ctx) {
  CLI::App* cmd =
      app.add_subcommand("wait", "Block until containers stop, then print their exit codes");
  auto containers = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *containers, "Container ids or names")->required();
  cmd->callback([&ctx, containers] { ctx.set_exit_code(Wait(ctx, *containers)); });
}

}  // namespace kapsel::client
