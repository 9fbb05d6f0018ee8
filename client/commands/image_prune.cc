#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

struct PruneOptions {
  bool all = false;
  bool force = false;  // accepted for docker compatibility: kapselctl does not prompt
};

int Prune(Context& ctx, const PruneOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  kapsel::v1::PruneImagesRequest request;
  request.set_all(options.all);
  kapsel::v1::PruneImagesResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Prune(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  if (!response.deleted().empty()) {
    ctx.out() << "Deleted Images:\n";
    for (const std::string& id : response.deleted()) ctx.out() << "deleted: " << id << "\n";
    ctx.out() << "\n";
  }
  ctx.out() << "Total reclaimed space: " << HumanSize(response.reclaimed_bytes()) << std::endl;
  return 0;
}

void AddPrune(CLI::App& parent, Context& ctx) {
  CLI::App* cmd = parent.add_subcommand("prune", "Remove unused images and free their layers");
  auto options = std::make_shared<PruneOptions>();
  cmd->add_flag("-a,--all", options->all, "Remove all images no container uses, not only untagged");
  cmd->add_flag("-f,--force", options->force, "Do not prompt (kapselctl never prompts)");
  cmd->callback([&ctx, options] { ctx.set_exit_code(Prune(ctx, *options)); });
}

}  // namespace

void RegisterImage(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("image", "Manage images");
  cmd->require_subcommand(1);
  AddPrune(*cmd, ctx);
}

}  // namespace kapsel::client
