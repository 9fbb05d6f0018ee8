#include "daemon/services/exec_stream.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "daemon/services/status.h"

namespace kapsel::daemon {
namespace {

// Output is relayed in chunks of at most this many bytes.
constexpr size_t kChunkBytes = 32 * 1024;
// The poll interval, also how soon a cancelled call is noticed (milliseconds).
constexpr int kPollMillis = 200;
// After the exit status, how long the client has to close its side of the stream.
constexpr absl::Duration kCloseGrace = absl::Seconds(5);

// Writes `data` to the non-blocking `fd`, waiting while the pipe or pty is full; gives up when the
// process has gone (`done`) or the reader closed its end.
void WriteInput(int fd, const std::string& data, const std::atomic<bool>& done) {
  size_t off = 0;
  while (off < data.size() && !done.load()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd pfd = {fd, POLLOUT, 0};
      (void)poll(&pfd, 1, kPollMillis);
      continue;
    }
    return;  // EPIPE: nobody reads stdin any more
  }
}

}  // namespace

grpc::Status ServeExec(Engine* engine, grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<v1::ExecResponse, v1::ExecRequest>* stream) {
  v1::ExecRequest first;
  if (!stream->Read(&first)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "exec: no request was sent");
  }
  if (!first.has_spec()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "exec: the first message must be the exec spec");
  }
  // With a tty the client's second message is the window size, so that the process starts with
  // it (a `stty size` right at the start sees it). Anything else is handled after the start.
  std::optional<v1::ExecRequest> second;
  const v1::WindowSize* initial_size = nullptr;
  if (first.spec().tty()) {
    v1::ExecRequest next;
    if (stream->Read(&next)) {
      second = std::move(next);
      if (second->has_resize()) initial_size = &second->resize();
    }
  }
  auto started = engine->Exec(first.spec(), initial_size);
  if (!started.ok()) return ToGrpc(started.status());
  Engine::ExecSession& session = **started;
  auto send_exit = [&](const ExitInfo& exit) {
    v1::ExecResponse resp;
    v1::ExitStatus* status = resp.mutable_exit();
    status->set_exit_code(exit.exit_code);
    status->set_signal(exit.signal);
    status->set_error(exit.error);
    return stream->Write(resp);
  };
  if (session.failed) {
    send_exit(engine->ExecWait(session));
    return grpc::Status::OK;
  }

  // Input: the pty master with a tty, else the stdin pipe (none without -i).
  const int input_fd = session.tty ? session.stdout_fd.get() : session.stdin_fd.get();
  std::atomic<bool> done{false};
  absl::Notification reader_finished;
  std::thread reader([&] {
    v1::ExecRequest req;
    bool pending = second.has_value() && !second->has_resize();
    if (pending) req = *second;
    while (pending || stream->Read(&req)) {
      pending = false;
      switch (req.msg_case()) {
        case v1::ExecRequest::kStdin:
          if (input_fd >= 0) WriteInput(input_fd, req.stdin(), done);
          break;
        case v1::ExecRequest::kResize:
          if (session.tty) {
            struct winsize ws = {};
            ws.ws_row = static_cast<unsigned short>(req.resize().rows());
            ws.ws_col = static_cast<unsigned short>(req.resize().cols());
            (void)ioctl(session.stdout_fd.get(), TIOCSWINSZ, &ws);
          }
          break;
        case v1::ExecRequest::kCloseStdin:
          if (session.tty) {
            // A terminal has no end of file of its own: the line discipline's EOF character
            // (VEOF, ^D) ends a read of the process in canonical mode.
            struct termios t;
            if (tcgetattr(session.stdout_fd.get(), &t) == 0) {
              WriteInput(session.stdout_fd.get(), std::string(1, static_cast<char>(t.c_cc[VEOF])),
                         done);
            }
          } else {
            session.stdin_fd.Close();
          }
          break;
        default:
          break;
      }
    }
    // The client closed its side (or went away): end of file on the process' stdin.
    if (!session.tty) session.stdin_fd.Close();
    reader_finished.Notify();
  });

  struct Output {
    int fd;
    v1::OutputChunk::Stream stream;
  };
  Output outputs[2] = {{session.stdout_fd.get(), v1::OutputChunk::STREAM_STDOUT},
                       {session.stderr_fd.get(), v1::OutputChunk::STREAM_STDERR}};
  bool client_gone = false;
  std::string buf(kChunkBytes, '\0');
  // Reads what `out` has now; false when the client is gone. A closed output (EOF, or EIO from a
  // pty master whose slave is closed everywhere) is taken out of the poll set.
  auto relay = [&](Output& out) {
    for (;;) {
      ssize_t n = read(out.fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n <= 0) {
        out.fd = -1;
        return true;
      }
      v1::ExecResponse resp;
      resp.mutable_output()->set_stream(out.stream);
      resp.mutable_output()->set_data(buf.data(), static_cast<size_t>(n));
      if (!stream->Write(resp)) return false;
    }
  };
  for (;;) {
    struct pollfd pfds[3] = {{outputs[0].fd, POLLIN, 0},
                             {outputs[1].fd, POLLIN, 0},
                             {session.shim_pidfd.get(), POLLIN, 0}};
    int n = poll(pfds, 3, kPollMillis);
    if (n < 0 && errno != EINTR) break;
    if (ctx->IsCancelled()) {
      client_gone = true;
      break;
    }
    for (int i = 0; i < 2 && n > 0; ++i) {
      if (outputs[i].fd >= 0 && pfds[i].revents != 0 && !relay(outputs[i])) client_gone = true;
    }
    if (client_gone) break;
    if (pfds[2].revents != 0) {
      // The helper exited after its process: what the process wrote is in the pipe or pty.
      for (Output& out : outputs) {
        if (out.fd >= 0 && !relay(out)) client_gone = true;
      }
      break;
    }
  }
  if (client_gone) engine->ExecKill(session);
  ExitInfo exit = engine->ExecWait(session);
  done.store(true);
  if (!client_gone) send_exit(exit);
  // The client closes its side when it has the exit status; one that does not is cut off.
  if (client_gone || !reader_finished.WaitForNotificationWithTimeout(kCloseGrace)) {
    ctx->TryCancel();
  }
  reader.join();
  if (client_gone) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away; the process was killed");
  }
  return grpc::Status::OK;
}

}  // namespace kapsel::daemon
