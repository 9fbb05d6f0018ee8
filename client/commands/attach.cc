#include "client/commands/attach.h"

#include <memory>
#include <string>

#include "client/commands/commands.h"
#include "client/interactive.h"
#include "client/output.h"
#include "client/tty.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {

int AttachToContainer(Context& ctx, const std::string& container, const AttachFlags& flags) {
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReaderWriter<kapsel::v1::AttachRequest, kapsel::v1::AttachResponse>>
      stream = stub->Attach(&call);
  {
    kapsel::v1::AttachRequest req;
    kapsel::v1::AttachSpec* spec = req.mutable_spec();
    spec->set_container(container);
    spec->set_start(flags.start);
    *spec->mutable_window_size() = CurrentWindowSize();
    stream->Write(req);
  }
  // The first answer says what the container has: a terminal, an open stdin.
  kapsel::v1::AttachResponse first;
  if (!stream->Read(&first)) {
    stream->WritesDone();
    grpc::Status status = stream->Finish();
    if (!status.ok()) return ctx.Fail(status);
    return ctx.Fail("kapseld ended the attach without an answer");
  }
  if (first.has_exit()) {
    // It was started but its process could not be executed (exit code 126 or 127).
    stream->WritesDone();
    (void)stream->Finish();
    ctx.err() << "kapselctl: " << first.exit().error() << std::endl;
    return first.exit().exit_code() != 0 ? first.exit().exit_code() : kExitEngineError;
  }
  const kapsel::v1::AttachInfo& info = first.info();
  const bool forward_stdin = info.open_stdin() && !flags.no_stdin;
  InteractiveSession<kapsel::v1::AttachRequest, kapsel::v1::AttachResponse> session(
      ctx, &call, stream.get(),
      {.forward_stdin = forward_stdin, .tty = info.tty(), .detach_keys = forward_stdin});
  return session.Run();
}

void RegisterAttach(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "attach", "Attach to a running container's output and input (detach: ctrl-p ctrl-q)");
  auto container = std::make_shared<std::string>();
  auto flags = std::make_shared<AttachFlags>();
  cmd->add_flag("--no-stdin", flags->no_stdin, "Do not attach stdin");
  cmd->add_option("CONTAINER", *container, "Container name or id")->required();
  cmd->callback(
      [&ctx, container, flags] { ctx.set_exit_code(AttachToContainer(ctx, *container, *flags)); });
}

}  // namespace kapsel::client
