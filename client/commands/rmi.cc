#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

int Rmi(Context& ctx, const std::vector<std::string>& images, bool force) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  return ForEachContainer(ctx, images, [&](const std::string& image) {
    kapsel::v1::RemoveImageRequest request;
    request.set_image(image);
    request.set_force(force);
    kapsel::v1::RemoveImageResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Remove(&call, request, &response);
    if (!status.ok()) return status;
    for (const std::string& tag : response.untagged()) ctx.out() << "Untagged: " << tag << "\n";
    for (const std::string& id : response.deleted()) ctx.out() << "Deleted: " << id << "\n";
    ctx.out().flush();
    return grpc::Status::OK;
  });
}

}  // namespace

void RegisterRmi(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("rmi", "Remove images (a tag of several: only untag)");
  auto images = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  cmd->add_flag("-f,--force", *force,
                "Remove also when a container uses the image (it keeps its layers until pruned)");
  cmd->add_option("IMAGE", *images, "Images (name[:tag] or id)")->required();
  cmd->callback([&ctx, images, force] { ctx.set_exit_code(Rmi(ctx, *images, *force)); });
}

}  // namespace kapsel::client
