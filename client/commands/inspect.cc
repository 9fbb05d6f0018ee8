#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "google/protobuf/util/json_util.h"
#include "kapsel/v1/containers.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace kapsel::client {
namespace {

int Inspect(Context& ctx, const std::vector<std::string>& containers) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  nlohmann::json array = nlohmann::json::array();
  int result = ForEachContainer(ctx, containers, [&](const std::string& container) {
    kapsel::v1::InspectContainerRequest request;
    request.set_container(container);
    kapsel::v1::InspectContainerResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Inspect(&call, request, &response);
    if (!status.ok()) return status;
    google::protobuf::util::JsonPrintOptions json_options;
    json_options.always_print_primitive_fields = true;
    std::string json;
    auto converted =
        google::protobuf::util::MessageToJsonString(response.container(), &json, json_options);
    if (!converted.ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "converting the container to JSON: " + converted.ToString());
    }
    array.push_back(nlohmann::json::parse(json));
    return grpc::Status::OK;
  });
  // Like docker: the ones found, as an array, also when others failed.
  ctx.out() << array.dump(4) << std::endl;
  return result;
}

}  // namespace

void RegisterInspect(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("inspect", "Show containers' configuration and state as JSON");
  auto containers = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CONTAINER", *containers, "Container ids or names")->required();
  cmd->callback([&ctx, containers] { ctx.set_exit_code(Inspect(ctx, *containers)); });
}

}  // namespace kapsel::client
