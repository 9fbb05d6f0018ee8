#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/container_flags.h"
#include "client/commands/each.h"
#include "client/parse.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct UpdateOptions : ResourceFlags {
  std::vector<std::string> containers;
};

int Update(Context& ctx, const UpdateOptions& options) {
  kapsel::v1::Resources resources;
  if (absl::Status s = ParseResourceFlags(options, &resources); !s.ok()) return ctx.Fail(s);
  if (resources.ByteSizeLong() == 0) {
    return ctx.Fail(absl::InvalidArgumentError(
        "update: give at least one limit (--memory, --cpus, --cpu-shares, --cpuset-cpus, "
        "--pids-limit)"));
  }
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, options.containers, [&](const std::string& container) {
    kapsel::v1::UpdateContainerRequest request;
    request.set_container(container);
    *request.mutable_resources() = resources;
    kapsel::v1::UpdateContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Update(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterUpdate(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("update", "Update the resource limits of containers");
  auto options = std::make_shared<UpdateOptions>();
  AddResourceFlags(cmd, options.get());
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Update(ctx, *options)); });
}

}  // namespace kapsel::client
