#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "client/parse.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct KillOptions {
  std::string signal = "KILL";
  std::vector<std::string> containers;
};

int Kill(Context& ctx, const KillOptions& options) {
  absl::StatusOr<std::string> signal = NormalizeSignal(options.signal);
  if (!signal.ok()) return ctx.Fail(signal.status());
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  return ForEachContainer(ctx, options.containers, [&](const std::string& container) {
    kapsel::v1::KillContainerRequest request;
    request.set_container(container);
    request.set_signal(*signal);
    kapsel::v1::KillContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Kill(&call, request, &response);
    if (status.ok()) ctx.out() << container << std::endl;
    return status;
  });
}

}  // namespace

void RegisterKill(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("kill", "Send a signal to running containers");
  auto options = std::make_shared<KillOptions>();
  cmd->add_option("-s,--signal", options->signal, "Signal name or number (default KILL)");
  cmd->add_option("CONTAINER", options->containers, "Container ids or names")->required();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Kill(ctx, *options)); });
}

}  // namespace kapsel::client
