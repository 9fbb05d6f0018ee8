// kapselctl mount add|rm|ls: bind mounts added to and removed from a running container.

#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct AddOptions {
  std::string container;
  std::string host_path;
  std::string container_path;
  bool read_only = false;
  bool recursive = false;
  std::string propagation;
};

struct RemoveOptions {
  std::string container;
  std::string container_path;
};

struct ListOptions {
  std::string container;
  bool quiet = false;
};

int Add(Context& ctx, const AddOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::AddMountRequest request;
  request.set_container(options.container);
  kapsel::v1::MountSpec* mount = request.mutable_mount();
  mount->set_host_path(options.host_path);
  mount->set_container_path(options.container_path);
  mount->set_read_only(options.read_only);
  mount->set_recursive(options.recursive);
  mount->set_propagation(options.propagation);
  kapsel::v1::AddMountResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->AddMount(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << options.container_path << std::endl;
  return 0;
}

int Remove(Context& ctx, const RemoveOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::RemoveMountRequest request;
  request.set_container(options.container);
  request.set_container_path(options.container_path);
  kapsel::v1::RemoveMountResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->RemoveMount(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << options.container_path;
  if (response.lazy()) ctx.out() << " (busy: detached lazily, gone once no longer in use)";
  ctx.out() << std::endl;
  return 0;
}

int List(Context& ctx, const ListOptions& options) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  kapsel::v1::ListMountsRequest request;
  request.set_container(options.container);
  kapsel::v1::ListMountsResponse response;
  grpc::ClientContext call;
  grpc::Status status = stub->ListMounts(&call, request, &response);
  if (!status.ok()) return ctx.Fail(status);
  if (options.quiet) {
    for (const auto& m : response.mounts()) ctx.out() << m.container_path() << "\n";
    ctx.out() << std::flush;
    return 0;
  }
  Table table({"CONTAINER PATH", "HOST PATH", "MODE", "RECURSIVE", "PROPAGATION"});
  for (const auto& m : response.mounts()) {
    table.AddRow({m.container_path(), m.host_path(), m.read_only() ? "ro" : "rw",
                  m.recursive() ? "yes" : "no", m.propagation()});
  }
  ctx.out() << table.Render() << std::flush;
  return 0;
}

}  // namespace

void RegisterMount(CLI::App& app, Context& ctx) {
  CLI::App* mount = app.add_subcommand("mount", "Add, remove and list bind mounts of a container");
  mount->require_subcommand(1);

  CLI::App* add = mount->add_subcommand("add", "Bind-mount a host path into a running container");
  auto add_options = std::make_shared<AddOptions>();
  add->add_flag("--ro,--read-only", add_options->read_only, "Mount read-only");
  add->add_flag("-r,--recursive", add_options->recursive,
                "Include the mounts below the host path (rbind)");
  add->add_option("--propagation", add_options->propagation, "Mount propagation (default rprivate)")
      ->check(CLI::IsMember({"private", "rprivate", "slave", "rslave"}));
  add->add_option("CONTAINER", add_options->container, "Container id or name")->required();
  add->add_option("HOSTPATH", add_options->host_path, "Absolute host path")->required();
  add->add_option("CONTAINERPATH", add_options->container_path, "Absolute path in the container")
      ->required();
  add->callback([&ctx, add_options] { ctx.set_exit_code(Add(ctx, *add_options)); });

  CLI::App* rm = mount->add_subcommand("rm", "Unmount a path added with mount add");
  auto rm_options = std::make_shared<RemoveOptions>();
  rm->add_option("CONTAINER", rm_options->container, "Container id or name")->required();
  rm->add_option("CONTAINERPATH", rm_options->container_path, "Path in the container")->required();
  rm->callback([&ctx, rm_options] { ctx.set_exit_code(Remove(ctx, *rm_options)); });

  CLI::App* ls = mount->add_subcommand("ls", "List the mounts added to a container");
  auto ls_options = std::make_shared<ListOptions>();
  ls->add_flag("-q,--quiet", ls_options->quiet, "Only show container paths");
  ls->add_option("CONTAINER", ls_options->container, "Container id or name")->required();
  ls->callback([&ctx, ls_options] { ctx.set_exit_code(List(ctx, *ls_options)); });
}

}  // namespace kapsel::client
