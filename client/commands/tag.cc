#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/parse.h"
#include "kapsel/v1/images.grpc.pb.h"

namespace kapsel::client {
namespace {

int Tag(Context& ctx, const std::string& source, const std::string& target) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(target);
  if (!ref.ok()) return ctx.Fail(ref.status());
  if (!ref->digest.empty()) {
    return ctx.Fail(absl::StrCat("invalid reference \"", target, "\": a tag is name[:tag]"));
  }
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Images::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::TagImageRequest request;
  request.set_source(source);
  request.set_target(ref->String());
  kapsel::v1::TagImageResponse response;
  grpc::Status status = stub->Tag(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  return 0;
}

}  // namespace

void RegisterTag(CLI::App& app, Context& ctx) {
  CLI::App* cmd =
      app.add_subcommand("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE");
  auto source = std::make_shared<std::string>();
  auto target = std::make_shared<std::string>();
  cmd->add_option("SOURCE_IMAGE", *source, "Image name[:tag] or id")->required();
  cmd->add_option("TARGET_IMAGE", *target, "New name[:tag]")->required();
  cmd->callback([&ctx, source, target] { ctx.set_exit_code(Tag(ctx, *source, *target)); });
}

}  // namespace kapsel::client
