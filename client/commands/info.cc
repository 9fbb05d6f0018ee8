#include <memory>

#include "client/commands/commands.h"
#include "client/output.h"
#include "kapsel/v1/system.grpc.pb.h"

namespace kapsel::client {
namespace {

int Info(Context& ctx) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::System::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::InfoResponse info;
  grpc::Status status = stub->Info(&call, kapsel::v1::InfoRequest(), &info);
  if (!status.ok()) return ctx.Fail(status);
  ctx.out() << "Server Version: " << info.server_version() << "\n"
            << "Containers: " << info.containers() << "\n"
            << "Containers Running: " << info.containers_running() << "\n"
            << "Containers Exited: " << info.containers_exited() << "\n"
            << "Images: " << info.images() << "\n"
            << "Storage Driver: " << info.storage_driver() << "\n"
            << "Cgroup Version: " << info.cgroup_mode() << "\n"
            << "Kernel Version: " << info.kernel_version() << "\n"
            << "CPUs: " << info.cpus() << "\n"
            << "Total Memory: " << BinarySize(info.memory_bytes()) << "\n"
            << "Data Root: " << info.data_root() << "\n"
            << "Exec Root: " << info.exec_root() << "\n"
            << "User Namespace Remap: "
            << (info.userns_remap().empty() ? "none" : info.userns_remap()) << "\n";
  return 0;
}

}  // namespace

void RegisterInfo(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("info", "Show system-wide information");
  cmd->callback([&ctx] { ctx.set_exit_code(Info(ctx)); });
}

}  // namespace kapsel::client
