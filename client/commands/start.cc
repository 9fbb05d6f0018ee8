#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

int Start(Context& ctx, const std::vector<std::string>& containers) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, containers, [&](const std::string& container) {
    kapsel::v1::StartContainerRequest request;
    request.set_container(container);
    kapsel::v1::StartContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Start(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterStart(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("start", "Start created containers");
  auto containers = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *containers, "Container ids or names")->required();
  cmd->callback([&ctx, containers] { ctx.set_exit_code(Start(ctx, *containers)); });
}

}  // namespace kapsel::client
