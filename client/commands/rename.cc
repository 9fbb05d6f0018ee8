#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct RenameOptions {
  std::string container;
  std::string new_name;
};

int Rename(Context& ctx, const RenameOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::RenameContainerRequest request;
  request.set_container(options.container);
  request.set_new_name(options.new_name);
  kapsel::v1::RenameContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Rename(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  return 0;
}

}  // namespace

void RegisterRename(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("rename", "Rename a container");
  auto options = std::make_shared<RenameOptions>();
  cmd->add_option("CONTAINER", options->container, "Container id or name")->required();
  cmd->add_option("NEW_NAME", options->new_name, "The new name")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Rename(ctx, *options)); });
}

}  // namespace kapsel::client
