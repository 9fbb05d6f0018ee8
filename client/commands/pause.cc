// pause and unpause: freeze and thaw every process of running containers.

#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

int PauseOrUnpause(Context& ctx, const std::vector<std::string>& containers, bool pause) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, containers, [&](const std::string& container) {
    grpc::ClientContext call;
    grpc::Status status;
    if (pause) {
      kapsel::v1::PauseContainerRequest request;
      request.set_container(container);
      kapsel::v1::PauseContainerResponse response;
      status = stub->Pause(&call, request, &response);
    } else {
      kapsel::v1::UnpauseContainerRequest request;
      request.set_container(container);
      kapsel::v1::UnpauseContainerResponse response;
      status = stub->Unpause(&call, request, &response);
    }
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

void Register(CLI::App& app, Context& ctx, bool pause) {
  CLI::App* cmd = app.add_subcommand(
      pause ? "pause" : "unpause",
      pause ? "Pause all processes within containers" : "Unpause all processes within containers");
  auto containers = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *containers, "Container ids or names")->required();
  cmd->callback(
      [&ctx, containers, pause] { ctx.set_exit_code(PauseOrUnpause(ctx, *containers, pause)); });
}

}  // namespace

void RegisterPause(CLI::App& app, Context& ctx) { Register(app, ctx, true); }
void RegisterUnpause(CLI::App& app, Context& ctx) { Register(app, ctx, false); }

}  // namespace kapsel::client
