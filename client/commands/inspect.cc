#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "google/protobuf/util/json_util.h"
#include "kapsel/v1/containers.grpc.pb.h"
#include "kapsel/v1/images.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

// The message as a JSON object, fields with default values included.
grpc::Status ToJson(const google::protobuf::Message& message, nlohmann::json* out) {
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.always_print_primitive_fields = true;
  std::string json;
  auto converted = google::protobuf::util::MessageToJsonString(message, &json, json_options);
  if (!converted.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "converting to JSON: " + converted.ToString());
  }
  *out = nlohmann::json::parse(json);
  return grpc::Status::OK;
}

int Inspect(Context& ctx, const std::vector<std::string>& objects, const std::string& type) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto containers = kapsel::v1::Containers::NewStub(*channel);
  auto images = kapsel::v1::Images::NewStub(*channel);
  nlohmann::json array = nlohmann::json::array();
  int result = ForEachContainer(ctx, objects, [&](const std::string& object) {
    // Like docker: a container by that name or id first, then an image.
    grpc::Status status = grpc::Status::OK;
    if (type != "image") {
      kapsel::v1::InspectContainerRequest request;
      request.set_container(object);
      kapsel::v1::InspectContainerResponse response;
      grpc::ClientContext call;
      status = containers->Inspect(&call, request, &response);
      if (status.ok()) {
        nlohmann::json json;
        status = ToJson(response.container(), &json);
        if (status.ok()) array.push_back(std::move(json));
        return status;
      }
      if (status.error_code() != grpc::StatusCode::NOT_FOUND || type == "container") {
        return status;
      }
    }
    kapsel::v1::InspectImageRequest request;
    request.set_image(object);
    kapsel::v1::InspectImageResponse response;
    grpc::ClientContext call;
    grpc::Status image_status = images->Inspect(&call, request, &response);
    if (!image_status.ok()) {
      // Neither: the container's "no such container" says what was looked for first.
      if (type.empty() && (image_status.error_code() == grpc::StatusCode::NOT_FOUND ||
                           image_status.error_code() == grpc::StatusCode::UNIMPLEMENTED)) {
        return status;
      }
      return image_status;
    }
    nlohmann::json json;
    image_status = ToJson(response.image(), &json);
    if (image_status.ok()) array.push_back(std::move(json));
    return image_status;
  });
  // Like docker: the ones found, as an array, also when others failed.
  ctx.out() << array.dump(4) << std::endl;
  return result;
}

}  // namespace

void RegisterInspect(CLI::App& app, Context& ctx) {
  CLI::App* cmd =
      app.add_subcommand("inspect", "Show containers' or images' configuration and state as JSON");
  auto objects = std::make_shared<std::vector<std::string>>();
  auto type = std::make_shared<std::string>();
  cmd->add_option("--type", *type, "Only look for a container or an image")
      ->check(CLI::IsMember({"container", "image"}));
  cmd->add_option("OBJECT", *objects, "Container ids or names, image references or ids")
      ->required();
  cmd->callback([&ctx, objects, type] { ctx.set_exit_code(Inspect(ctx, *objects, *type)); });
}

}  // namespace kapsel::client
