#include <memory>
#include <string>
#include <vector>

#include "client/commands/attach.h"
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
  struct Flags {
    bool attach = false;
    bool interactive = false;
  };
  auto flags = std::make_shared<Flags>();
  cmd->add_flag("-a,--attach", flags->attach, "Attach to the output (and with -i the input)");
  cmd->add_flag("-i,--interactive", flags->interactive, "Attach the container's stdin");
  cmd->add_option("CONTAINER", *containers, "Container ids or names")->required();
  cmd->callback([&ctx, containers, flags] {
    if (!flags->attach && !flags->interactive) {
      ctx.set_exit_code(Start(ctx, *containers));
      return;
    }
    if (containers->size() != 1) {
      ctx.set_exit_code(ctx.Fail("start --attach takes exactly one container"));
      return;
    }
    ctx.set_exit_code(AttachToContainer(ctx, containers->front(),
                                        {.start = true, .no_stdin = !flags->interactive}));
  });
}

}  // namespace kapsel::client
