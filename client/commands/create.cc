#include <memory>

#include "client/commands/commands.h"
#include "client/commands/container_flags.h"
#include "client/parse.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

int Create(Context& ctx, const ContainerOptions& options) {
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options, ctx.env());
  if (!spec.ok()) return ctx.Fail(spec.status());
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::CreateContainerRequest request;
  *request.mutable_spec() = *std::move(spec);
  kapsel::v1::CreateContainerResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Create(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << response.id() << std::endl;
  return 0;
}

}  // namespace

void RegisterCreate(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("create", "Create a container without starting it");
  auto options = std::make_shared<ContainerOptions>();
  AddContainerFlags(cmd, options.get());
  cmd->callback([&ctx, options] { ctx.set_exit_code(Create(ctx, *options)); });
}

}  // namespace kapsel::client
