#include <memory>

#include "client/commands/commands.h"
#include "kapsel/v1/system.grpc.pb.h"

namespace kapsel::client {
namespace {

int Version(Context& ctx) {
  std::ostream& out = ctx.out();
  out << "Client:\n"
      << " Version:     " << KAPSEL_VERSION << "\n"
      << " API version: v1\n"
      << " Git commit:  " << KAPSEL_GIT_COMMIT << "\n";
  out.flush();

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::System::NewStub(*channel);
  grpc::ClientContext call;
  kapsel::v1::VersionResponse response;
  grpc::Status status = stub->Version(&call, kapsel::v1::VersionRequest(), &response);
  if (!status.ok()) return ctx.Fail(status);
  out << "\nServer:\n"
      << " Version:     " << response.version() << "\n"
      << " API version: " << response.api_version() << "\n"
      << " Git commit:  " << response.git_commit() << "\n"
      << " Kernel:      " << response.kernel_version() << "\n"
      << " OS/Arch:     " << response.os() << "/" << response.arch() << "\n";
  return 0;
}

}  // namespace

void RegisterVersion(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("version", "Show the client and server versions");
  cmd->callback([&ctx] { ctx.set_exit_code(Version(ctx)); });
}

}  // namespace kapsel::client
