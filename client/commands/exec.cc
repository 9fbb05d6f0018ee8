#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/output.h"
#include "client/parse.h"
#include "client/tty.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::client {
namespace {

using ExecStream = grpc::ClientReaderWriter<kapsel::v1::ExecRequest, kapsel::v1::ExecResponse>;

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

// Stdin is read in chunks of at most this many bytes.
constexpr size_t kInputChunk = 32 * 1024;

bool SendResize(ExecStream* stream, int fd) {
  std::optional<TerminalSize> size = GetTerminalSize(fd);
  if (!size) return true;
  kapsel::v1::ExecRequest req;
  req.mutable_resize()->set_rows(size->rows);
  req.mutable_resize()->set_cols(size->cols);
  return stream->Write(req);
}

// The sending side of the stream, on its own thread: stdin (with -i) and window changes (with
// -t), until `stop_fd` becomes readable or the stream breaks. It is the only writer while it runs.
void ForwardInput(ExecStream* stream, bool interactive, int tty_fd, int winch_fd, int stop_fd) {
  bool stdin_open = interactive;
  std::string buf(kInputChunk, '\0');
  for (;;) {
    struct pollfd pfds[3] = {
        {stop_fd, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}, {winch_fd, POLLIN, 0}};
    int n = poll(pfds, 3, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pfds[0].revents != 0) return;
    if (pfds[2].revents != 0) {
      char drain[64];
      while (read(winch_fd, drain, sizeof(drain)) > 0) {
      }
      if (!SendResize(stream, tty_fd)) return;
    }
    if (pfds[1].revents != 0) {
      ssize_t got = read(0, buf.data(), buf.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      kapsel::v1::ExecRequest req;
      if (got <= 0) {
        stdin_open = false;
        req.set_close_stdin(true);
      } else {
        req.set_stdin(buf.data(), static_cast<size_t>(got));
      }
      if (!stream->Write(req)) return;
    }
  }
}

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
  // The terminal whose size the process' pty takes: stdin's, else stdout's.
  const int tty_fd = IsTerminal(0) ? 0 : (IsTerminal(1) ? 1 : -1);
  if (options.tty && options.interactive && !IsTerminal(0)) {
    return ctx.Fail("the input device is not a TTY");
  }

  auto channel = ctx.Channel();
  if (!channel.ok()) return ctx.Fail(channel.status());
  auto stub = kapsel::v1::Containers::NewStub(*channel);
  grpc::ClientContext call;
  std::unique_ptr<ExecStream> stream = stub->Exec(&call);
  {
    kapsel::v1::ExecRequest req;
    *req.mutable_spec() = spec;
    stream->Write(req);
  }
  std::optional<WindowChangeWatcher> winch;
  std::optional<RawTerminal> raw;
  if (options.tty) {
    // With a tty the second message is always the window size (0x0: unknown); the daemon waits
    // for it so the process starts with the right size.
    std::optional<TerminalSize> size =
        tty_fd >= 0 ? GetTerminalSize(tty_fd) : std::optional<TerminalSize>();
    kapsel::v1::ExecRequest req;
    req.mutable_resize()->set_rows(size ? size->rows : 0);
    req.mutable_resize()->set_cols(size ? size->cols : 0);
    stream->Write(req);
  }
  if (options.tty && tty_fd >= 0) {
    auto watcher = WindowChangeWatcher::Start();
    if (watcher.ok()) winch.emplace(*std::move(watcher));
    if (options.interactive) {
      auto entered = RawTerminal::Enter(0);
      if (!entered.ok()) return ctx.Fail(entered.status());
      raw.emplace(*std::move(entered));
    }
  }

  int stop_pipe[2] = {-1, -1};
  std::thread input;
  const bool forward = options.interactive || winch.has_value();
  if (forward) {
    if (pipe2(stop_pipe, O_CLOEXEC) != 0) return ctx.Fail("pipe2 failed");
    input = std::thread(ForwardInput, stream.get(), options.interactive, tty_fd,
                        winch ? winch->fd() : -1, stop_pipe[0]);
  }
  bool writes_done = false;
  auto stop_input = [&] {
    if (writes_done) return;
    writes_done = true;
    if (forward) {
      char c = 1;
      ssize_t unused = write(stop_pipe[1], &c, 1);
      (void)unused;
      input.join();
      close(stop_pipe[0]);
      close(stop_pipe[1]);
    }
    stream->WritesDone();
  };
  if (!forward) stop_input();

  std::optional<kapsel::v1::ExitStatus> exit;
  kapsel::v1::ExecResponse message;
  while (stream->Read(&message)) {
    if (message.has_output()) {
      const kapsel::v1::OutputChunk& chunk = message.output();
      std::ostream& out =
          chunk.stream() == kapsel::v1::OutputChunk::STREAM_STDERR ? ctx.err() : ctx.out();
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      out.flush();
    } else if (message.has_exit()) {
      exit = message.exit();
      // The daemon ends the call once this side is closed.
      stop_input();
    }
  }
  stop_input();
  grpc::Status status = stream->Finish();
  raw.reset();
  if (exit.has_value()) {
    if (!exit->error().empty()) {
      ctx.err() << "kapselctl: " << exit->error() << std::endl;
      return exit->exit_code() != 0 ? exit->exit_code() : kExitEngineError;
    }
    return ExitCodeOf(exit->exit_code(), exit->signal());
  }
  if (!status.ok()) return ctx.Fail(status);
  return ctx.Fail("kapseld ended the exec without an exit status");
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
