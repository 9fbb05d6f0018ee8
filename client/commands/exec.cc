#include <memory>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "client/interactive.h"
#include "client/parse.h"
#include "client/tty.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct ExecOptions {
  bool interactive = false;
  bool tty = false;
  bool privileged = false;
  std::string user;
  std::string workdir;
  std::vector<std::string> env;
  std::string container;
  std::vector<std::string> command;
};

int Exec(Context& ctx, const ExecOptions& options) {
  if (options.command.empty()) return ctx.Fail("exec: a command must be given");
  kapsel::v1::ExecSpec spec;
  spec.set_container(options.container);
  for (const auto& arg : options.command) spec.add_cmd(arg);
  auto env = ParseEnvVars(options.env, ctx.env());
  if (!env.ok()) return ctx.Fail(env.status());
  for (const auto& e : *env) spec.add_env(e);
  spec.set_working_dir(options.workdir);
  spec.set_user(options.user);
  spec.set_tty(options.tty);
  spec.set_privileged(options.privileged);
  spec.set_attach_stdin(options.interactive);
  if (options.tty && options.interactive && !IsTerminal(0)) {
    return ctx.Fail("the input device is not a TTY");
  }

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReaderWriter<kapsel::v1::ExecRequest, kapsel::v1::ExecResponse>>
      stream = stub->Exec(&call);
  {
    kapsel::v1::ExecRequest req;
    *req.mutable_spec() = spec;
    stream->Write(req);
  }
  if (options.tty) {
    // With a tty the second message is always the window size (0x0: unknown); the daemon waits
    // for it so the process starts with the right size.
    kapsel::v1::ExecRequest req;
    *req.mutable_resize() = CurrentWindowSize();
    stream->Write(req);
  }
  InteractiveSession<kapsel::v1::ExecRequest, kapsel::v1::ExecResponse> session(
      ctx, &call, stream.get(), {.forward_stdin = options.interactive, .tty = options.tty});
  return session.Run();
}

}  // namespace

void RegisterExec(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("exec", "Run a command in a running container");
  auto options = std::make_shared<ExecOptions>();
  cmd->add_flag("-i,--interactive", options->interactive, "Keep stdin open");
  cmd->add_flag("-t,--tty", options->tty, "Allocate a pseudo-TTY");
  cmd->add_option("-u,--user", options->user, "User name or uid, with an optional :group");
  cmd->add_option("-e,--env", options->env, "Set an environment variable (K=V, or K to copy it)")
      ->allow_extra_args(false);
  cmd->add_option("-w,--workdir", options->workdir, "Working directory inside the container");
  cmd->add_flag("--privileged", options->privileged,
                "All capabilities and no seccomp filter for the command");
  cmd->add_option("CONTAINER", options->container, "Container name or id")->required();
  cmd->add_option("CMD", options->command, "Command and arguments")->required();
  cmd->positionals_at_end();
  cmd->callback([&ctx, options] { ctx.set_exit_code(Exec(ctx, *options)); });
}

}  // namespace kapsel::client
