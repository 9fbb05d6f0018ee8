#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct RmOptions {
  bool force = false;
  std::vector<std::string> containers;
};

int Rm(Context& ctx, const RmOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, options.containers, [&](const std::string& container) {
    kapsel::v1::RemoveContainerRequest request;
    request.set_container(container);
    request.set_force(options.force);
    kapsel::v1::RemoveContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Remove(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterRm(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("rm", "Remove containers");
  auto options = std::make_shared<RmOptions>();
  cmd->add_flag("-f,--force", options->force, "Kill a running container before removing it");
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Rm(ctx, *options)); });
}

}  // namespace kapsel::client
