// network create | ls | inspect | rm | connect | disconnect: user-defined bridge networks.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/commands/commands.h"
#include "client/commands/each.h"
#include "client/output.h"
#include "google/protobuf/util/json_util.h"
#include "kapsel/v1/networks.grpc.pb.h"

namespace kapsel::client {
namespace {

struct CreateOptions {
  std::string name;
  std::string subnet;
  bool internal = false;
};

std::unique_ptr<kapsel::v1::Networks::Stub> Stub(Context& ctx, int* rc) {
  auto channel = ctx.Channel();
  if (!channel.ok()) {
    *rc = ctx.Fail(channel.status());
    return nullptr;
  }
  return kapsel::v1::Networks::NewStub(*channel);
}

int Create(Context& ctx, const CreateOptions& options) {
  int rc = 0;
  auto stub = Stub(ctx, &rc);
  if (!stub) return rc;
  kapsel::v1::CreateNetworkRequest request;
  request.set_name(options.name);
  request.set_subnet(options.subnet);
  request.set_internal(options.internal);
  kapsel::v1::CreateNetworkResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->Create(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << response.network().name() << std::endl;
  return 0;
}

int List(Context& ctx, bool quiet) {
  int rc = 0;
  auto stub = Stub(ctx, &rc);
  if (!stub) return rc;
  kapsel::v1::ListNetworksRequest request;
  kapsel::v1::ListNetworksResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->List(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  if (quiet) {
    for (const auto& n : response.networks()) ctx.out() << n.name() << "\n";
    return 0;
  }
  Table table({"NAME", "DRIVER", "SUBNET", "GATEWAY", "BRIDGE", "INTERNAL"});
  for (const auto& n : response.networks()) {
    table.AddRow({n.name(), n.driver(), n.subnet(), n.gateway(), n.bridge(),
                  n.internal() ? "true" : "false"});
  }
  ctx.out() << table.Render();
  return 0;
}

int Inspect(Context& ctx, const std::vector<std::string>& names) {
  int rc = 0;
  auto stub = Stub(ctx, &rc);
  if (!stub) return rc;
  std::string out = "[";
  int result = ForEachContainer(ctx, names, [&](const std::string& name) {
    kapsel::v1::InspectNetworkRequest request;
    request.set_name(name);
    kapsel::v1::InspectNetworkResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Inspect(&call, request, &response);
    if (!status.ok()) return status;
    google::protobuf::util::JsonPrintOptions json_options;
    json_options.add_whitespace = true;
    json_options.always_print_primitive_fields = true;
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(response.network(), &json, json_options);
    if (out.size() > 1) out += ",";
    out += json;
    return status;
  });
  ctx.out() << out << "]" << std::endl;
  return result;
}

int Remove(Context& ctx, const std::vector<std::string>& names) {
  int rc = 0;
  auto stub = Stub(ctx, &rc);
  if (!stub) return rc;
  return ForEachContainer(ctx, names, [&](const std::string& name) {
    kapsel::v1::RemoveNetworkRequest request;
    request.set_name(name);
    kapsel::v1::RemoveNetworkResponse response;
    grpc::ClientContext call;
    grpc::Status status = stub->Remove(&call, request, &response);
    if (status.ok()) ctx.out() << name << std::endl;
    return status;
  });
}

// network connect NETWORK CONTAINER / network disconnect NETWORK CONTAINER.
int Connect(Context& ctx, const std::string& network, const std::string& container, bool join) {
  int rc = 0;
  auto stub = Stub(ctx, &rc);
  if (!stub) return rc;
  grpc::ClientContext call;
  grpc::Status status;
  if (join) {
    kapsel::v1::ConnectNetworkRequest request;
    request.set_network(network);
    request.set_container(container);
    kapsel::v1::ConnectNetworkResponse response;
    status = stub->Connect(&call, request, &response);
  } else {
    kapsel::v1::DisconnectNetworkRequest request;
    request.set_network(network);
    request.set_container(container);
    kapsel::v1::DisconnectNetworkResponse response;
    status = stub->Disconnect(&call, request, &response);
  }
  return status.ok() ? 0 : ctx.Fail(status);
}

}  // namespace

void RegisterNetwork(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("network", "Manage networks");
  cmd->require_subcommand(1);

  CLI::App* create = cmd->add_subcommand("create", "Create a bridge network");
  auto create_options = std::make_shared<CreateOptions>();
  create->add_option("--subnet", create_options->subnet, "IPv4 subnet, e.g. 10.213.1.0/24")
      ->required();
  create->add_flag("--internal", create_options->internal, "No route out of the network");
  create->add_option("NAME", create_options->name, "Network name")->required();
  create->callback([&ctx, create_options] { ctx.set_exit_code(Create(ctx, *create_options)); });

  CLI::App* ls = cmd->add_subcommand("ls", "List networks");
  auto quiet = std::make_shared<bool>(false);
  ls->add_flag("-q,--quiet", *quiet, "Only show names");
  ls->callback([&ctx, quiet] { ctx.set_exit_code(List(ctx, *quiet)); });

  CLI::App* inspect = cmd->add_subcommand("inspect", "Show networks in detail (JSON)");
  auto inspect_names = std::make_shared<std::vector<std::string>>();
  inspect->add_option("NETWORK", *inspect_names, "Network names")->required();
  inspect->callback([&ctx, inspect_names] { ctx.set_exit_code(Inspect(ctx, *inspect_names)); });

  CLI::App* rm = cmd->add_subcommand("rm", "Remove networks (refused while in use)");
  auto rm_names = std::make_shared<std::vector<std::string>>();
  rm->add_option("NETWORK", *rm_names, "Network names")->required();
  rm->callback([&ctx, rm_names] { ctx.set_exit_code(Remove(ctx, *rm_names)); });

  for (bool join : {true, false}) {
    CLI::App* sub = cmd->add_subcommand(
        join ? "connect" : "disconnect",
        join ? "Join a container to a network (a new interface, and its name for the others)"
             : "Take a container off a network it joined with connect");
    auto args = std::make_shared<std::pair<std::string, std::string>>();
    sub->add_option("NETWORK", args->first, "Network name")->required();
    sub->add_option("CONTAINER", args->second, "Container name or id")->required();
    sub->callback(
        [&ctx, args, join] { ctx.set_exit_code(Connect(ctx, args->first, args->second, join)); });
  }
}

}  // namespace kapsel::client
