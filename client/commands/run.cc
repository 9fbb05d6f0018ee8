#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/commands/attach.h"
#include "client/commands/commands.h"
#include "client/commands/container_flags.h"
#include "client/output.h"
#include "client/parse.h"
#include "client/tty.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

struct RunOptions {
  ContainerOptions container;
  bool detach = false;
};

// The exit code of `run` for the container's final status; prints why a process that could not
// be started failed (the daemon sets 126 or 127 then).
int ReportExit(Context& ctx, const kapsel::v1::ExitStatus& exit) {
  if (!exit.error().empty()) {
    ctx.err() << "kapselctl: " << exit.error() << std::endl;
    return exit.exit_code() != 0 ? exit.exit_code() : kExitEngineError;
  }
  return ExitCodeOf(exit.exit_code(), exit.signal());
}

// `run -i` or `run -t` in the foreground: create, then start with an attached stream that
// carries stdin, the terminal and its window size.
int RunAttached(Context& ctx, kapsel::v1::ContainerSpec spec, kapsel::v1::Containers::Stub* stub) {
  if (spec.tty() && spec.open_stdin() && !IsTerminal(0)) {
    return ctx.Fail("the input device is not a TTY (use -i without -t to pipe input)");
  }
  kapsel::v1::CreateContainerRequest request;
  *request.mutable_spec() = std::move(spec);
  kapsel::v1::CreateContainerResponse created;
  grpc::ClientContext call;
  grpc::Status status = stub->Create(&call, request, &created);
  if (!status.ok()) return ctx.Fail(status);
  return AttachToContainer(ctx, created.id(), {.start = true});
}

int Run(Context& ctx, const RunOptions& options) {
  absl::StatusOr<kapsel::v1::ContainerSpec> spec = BuildContainerSpec(options.container, ctx.env());
  if (!spec.ok()) return ctx.Fail(spec.status());
  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  if (!options.detach && (spec->tty() || spec->open_stdin())) {
    return RunAttached(ctx, *std::move(spec), stub.get());
  }

  kapsel::v1::RunContainerRequest request;
  *request.mutable_spec() = *std::move(spec);
  request.set_detach(options.detach);
  grpc::ClientContext call;
  std::unique_ptr<grpc::ClientReader<kapsel::v1::RunContainerResponse>> reader =
      stub->Run(&call, request);

  bool created = false;
  std::optional<kapsel::v1::ExitStatus> exit;
  kapsel::v1::RunContainerResponse message;
  while (reader->Read(&message)) {
    switch (message.event_case()) {
      case kapsel::v1::RunContainerResponse::kCreated:
        created = true;
        // Detached: the id is the output. The stream still ends only after the start, so a
        // failed start is reported below.
        if (options.detach) ctx.out() << message.created().id() << std::endl;
        break;
      case kapsel::v1::RunContainerResponse::kOutput: {
        const kapsel::v1::OutputChunk& chunk = message.output();
        std::ostream& stream =
            chunk.stream() == kapsel::v1::OutputChunk::STREAM_STDERR ? ctx.err() : ctx.out();
        stream.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
        stream.flush();
        break;
      }
      case kapsel::v1::RunContainerResponse::kExit:
        exit = message.exit();
        break;
      case kapsel::v1::RunContainerResponse::EVENT_NOT_SET:
        break;
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ctx.Fail(status);
  if (exit.has_value() && (!exit->error().empty() || !options.detach)) {
    return ReportExit(ctx, *exit);
  }
  if (!created) return ctx.Fail("kapseld ended the run without creating a container");
  if (!options.detach) return ctx.Fail("kapseld ended the run without an exit status");
  return 0;
}

}  // namespace

void RegisterRun(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("run", "Create and start a container, and wait for it");
  auto options = std::make_shared<RunOptions>();
  cmd->add_flag("-d,--detach", options->detach, "Run in the background and print the id");
  AddContainerFlags(cmd, &options->container);
  cmd->callback([&ctx, options] { ctx.set_exit_code(Run(ctx, *options)); });
}

}  // namespace kapsel::client
