#pragma once

// The client's half of an interactive stream: `exec`, `attach`, `run -i/-t`. Stdin (with -i) and
// window changes (with -t) go out on a thread of their own; output and the exit status come back
// on the caller's thread. With a terminal the client's terminal is put in raw mode for the
// session and restored on every way out. With detach keys on, ctrl-p ctrl-q ends the session and
// leaves the process running.
//
// Request is ExecRequest or AttachRequest (stdin, resize, close_stdin); Response is ExecResponse
// or AttachResponse (output, exit).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

#include "client/context.h"
#include "client/output.h"
#include "client/tty.h"
#include "grpcpp/grpcpp.h"
#include "kapsel/v1/containers.pb.h"

namespace kapsel::client {

struct SessionOptions {
  bool forward_stdin = false;  // -i
  bool tty = false;            // the process has a terminal: raw mode, window sizes
  bool detach_keys = false;    // ctrl-p ctrl-q detaches
};

// The terminal whose size a process' pty takes: stdin's, else stdout's; -1 when neither is one.
inline int ClientTerminal() { return IsTerminal(0) ? 0 : (IsTerminal(1) ? 1 : -1); }

// The current window size of the client's terminal, 0x0 when it has none.
inline kapsel::v1::WindowSize CurrentWindowSize() {
  kapsel::v1::WindowSize out;
  const int fd = ClientTerminal();
  std::optional<TerminalSize> size = fd >= 0 ? GetTerminalSize(fd) : std::nullopt;
  out.set_rows(size ? size->rows : 0);
  out.set_cols(size ? size->cols : 0);
  return out;
}

// Finds the detach sequence (ctrl-p ctrl-q) across reads. Bytes that are not part of it are
// passed on; a ctrl-p is held back until the next byte says whether it begins the sequence.
class DetachKeys {
 public:
  static constexpr char kFirst = 0x10;   // ctrl-p
  static constexpr char kSecond = 0x11;  // ctrl-q

  // Appends to `out` what is to be sent of `in`; true when the sequence was completed (the
  // bytes after it are dropped).
  bool Scan(const char* in, size_t size, std::string* out) {
    for (size_t i = 0; i < size; ++i) {
      const char c = in[i];
      if (held_) {
        if (c == kSecond) return true;
        out->push_back(kFirst);
        held_ = c == kFirst;
        if (!held_) out->push_back(c);
        continue;
      }
      if (c == kFirst) {
        held_ = true;
      } else {
        out->push_back(c);
      }
    }
    return false;
  }

 private:
  bool held_ = false;
};

template <typename Request, typename Response>
class InteractiveSession {
 public:
  using Stream = grpc::ClientReaderWriter<Request, Response>;

  InteractiveSession(Context& ctx, grpc::ClientContext* call, Stream* stream,
                     SessionOptions options)
      : ctx_(ctx), call_(call), stream_(stream), options_(options) {}

  // Runs until the exit status arrives, the stream ends, or the client detaches. Returns the
  // exit code of kapselctl: the process' (128+N for a signal), 0 after a detach, or an error's.
  int Run() {
    const int tty_fd = ClientTerminal();
    std::optional<WindowChangeWatcher> winch;
    std::optional<RawTerminal> raw;
    if (options_.tty && tty_fd >= 0) {
      auto watcher = WindowChangeWatcher::Start();
      if (watcher.ok()) winch.emplace(*std::move(watcher));
      if (options_.forward_stdin && IsTerminal(0)) {
        auto entered = RawTerminal::Enter(0);
        if (!entered.ok()) return ctx_.Fail(entered.status());
        raw.emplace(*std::move(entered));
      }
    }
    int stop_pipe[2] = {-1, -1};
    std::thread input;
    const bool forward = options_.forward_stdin || winch.has_value();
    if (forward) {
      if (pipe2(stop_pipe, O_CLOEXEC) != 0) return ctx_.Fail("pipe2 failed");
      input = std::thread([&] { ForwardInput(tty_fd, winch ? winch->fd() : -1, stop_pipe[0]); });
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
      if (!detached_.load()) stream_->WritesDone();
    };
    if (!forward) stop_input();

    std::optional<kapsel::v1::ExitStatus> exit;
    Response message;
    while (stream_->Read(&message)) {
      if (message.has_output()) {
        const kapsel::v1::OutputChunk& chunk = message.output();
        std::ostream& out =
            chunk.stream() == kapsel::v1::OutputChunk::STREAM_STDERR ? ctx_.err() : ctx_.out();
        out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
        out.flush();
      } else if (message.has_exit()) {
        exit = message.exit();
        // The daemon ends the call once this side is closed.
        stop_input();
      }
    }
    stop_input();
    grpc::Status status = stream_->Finish();
    raw.reset();
    if (detached_.load() && !exit.has_value()) {
      ctx_.err() << "\r\nkapselctl: detached; the container keeps running" << std::endl;
      return 0;
    }
    if (exit.has_value()) {
      if (!exit->error().empty()) {
        ctx_.err() << "kapselctl: " << exit->error() << std::endl;
        return exit->exit_code() != 0 ? exit->exit_code() : kExitEngineError;
      }
      return ExitCodeOf(exit->exit_code(), exit->signal());
    }
    if (!status.ok()) return ctx_.Fail(status);
    return ctx_.Fail("kapseld ended the stream without an exit status");
  }

 private:
  // Stdin is read in chunks of at most this many bytes.
  static constexpr size_t kInputChunk = 32 * 1024;

  bool SendResize(int tty_fd) {
    std::optional<TerminalSize> size = GetTerminalSize(tty_fd);
    if (!size) return true;
    Request req;
    req.mutable_resize()->set_rows(size->rows);
    req.mutable_resize()->set_cols(size->cols);
    return stream_->Write(req);
  }

  // The sending side of the stream: stdin and window changes, until `stop_fd` becomes readable,
  // the stream breaks, or the detach keys are typed. The only writer while it runs.
  void ForwardInput(int tty_fd, int winch_fd, int stop_fd) {
    bool stdin_open = options_.forward_stdin;
    DetachKeys keys;
    std::string buf(kInputChunk, '\0');
    std::string send;
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
        if (!SendResize(tty_fd)) return;
      }
      if (pfds[1].revents == 0) continue;
      ssize_t got = read(0, buf.data(), buf.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      Request req;
      if (got <= 0) {
        stdin_open = false;
        req.set_close_stdin(true);
        if (!stream_->Write(req)) return;
        continue;
      }
      send.clear();
      const bool detach =
          options_.detach_keys && keys.Scan(buf.data(), static_cast<size_t>(got), &send);
      if (!options_.detach_keys) send.assign(buf.data(), static_cast<size_t>(got));
      if (!send.empty()) {
        req.set_stdin(send);
        if (!stream_->Write(req)) return;
      }
      if (detach) {
        detached_.store(true);
        call_->TryCancel();
        return;
      }
    }
  }

  Context& ctx_;
  grpc::ClientContext* call_;
  Stream* stream_;
  SessionOptions options_;
  std::atomic<bool> detached_{false};
};

}  // namespace kapsel::client
