#include "daemon/services/attach_stream.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "daemon/services/status.h"
#include "daemon/shim/attach_protocol.h"

namespace kapsel::daemon {
namespace {

// How soon a cancelled call (a detach) is noticed, in milliseconds.
constexpr int kPollMillis = 200;
// After the exit status, how long the client has to close its side of the stream.
constexpr absl::Duration kCloseGrace = absl::Seconds(5);

}  // namespace

grpc::Status ServeAttach(Engine* engine, grpc::ServerContext* ctx,
                         grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>* stream) {
  v1::AttachRequest first;
  if (!stream->Read(&first)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "attach: no request was sent");
  }
  v1::AttachSpec spec;
  if (first.has_spec()) {
    spec = first.spec();
  } else if (first.msg_case() == v1::AttachRequest::kContainer) {
    spec.set_container(first.container());
  } else {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attach: the first message must name the container");
  }
  auto rec = engine->Get(spec.container());
  if (!rec.ok()) return ToGrpc(rec.status());
  const std::string id = rec->id;
  // Keep an auto-remove container until its exit status has been sent.
  engine->Attach(id);
  absl::Cleanup detach = [&] { engine->Detach(id); };

  auto send_exit = [&](int code, int sig, bool oom, const std::string& error) {
    v1::AttachResponse resp;
    v1::ExitStatus* exit = resp.mutable_exit();
    exit->set_exit_code(code);
    exit->set_signal(sig);
    exit->set_oom_killed(oom);
    exit->set_error(error);
    return stream->Write(resp);
  };
  auto session = engine->OpenAttach(id, spec.start(), &spec.window_size());
  if (auto code = ExitCodeOf(session.status())) {
    // Started, but its process could not be executed (126, 127).
    send_exit(*code, 0, false, std::string(session.status().message()));
    return grpc::Status::OK;
  }
  if (!session.ok()) return ToGrpc(session.status());
  {
    v1::AttachResponse resp;
    v1::AttachInfo* info = resp.mutable_info();
    info->set_id(session->id);
    info->set_name(session->name);
    info->set_tty(session->tty);
    info->set_open_stdin(session->open_stdin);
    if (!stream->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  const int conn = session->conn.get();

  // Client -> shim. Ends when the client closes its side or cancels; the shim's end of the
  // connection is closed by the handler's thread.
  absl::Notification reader_finished;
  std::thread reader([&] {
    v1::AttachRequest req;
    bool ok = true;
    while (ok && stream->Read(&req)) {
      switch (req.msg_case()) {
        case v1::AttachRequest::kStdin:
          ok = shim::SendAttachPacket(conn, shim::AttachPacket::kStdin, req.stdin().data(),
                                      req.stdin().size());
          break;
        case v1::AttachRequest::kResize:
          ok = shim::SendAttachResize(conn, static_cast<uint16_t>(req.resize().rows()),
                                      static_cast<uint16_t>(req.resize().cols()));
          break;
        case v1::AttachRequest::kCloseStdin:
          ok = shim::SendAttachPacket(conn, shim::AttachPacket::kCloseStdin, nullptr, 0);
          break;
        default:
          break;
      }
    }
    reader_finished.Notify();
  });

  // Shim -> client, until the shim closes the connection (the container has exited) or the
  // client detaches (cancels the call).
  bool detached = false;
  std::string packet(shim::kAttachMaxPayload + 1, '\0');
  for (;;) {
    struct pollfd pfd = {conn, POLLIN, 0};
    int n = poll(&pfd, 1, kPollMillis);
    if (n < 0 && errno != EINTR) break;
    if (ctx->IsCancelled()) {
      detached = true;
      break;
    }
    if (n <= 0) continue;
    ssize_t got = recv(conn, packet.data(), packet.size(), MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) break;
    const auto type = static_cast<shim::AttachPacket>(packet[0]);
    if (type != shim::AttachPacket::kStdout && type != shim::AttachPacket::kStderr) continue;
    v1::AttachResponse resp;
    resp.mutable_output()->set_stream(type == shim::AttachPacket::kStderr
                                          ? v1::OutputChunk::STREAM_STDERR
                                          : v1::OutputChunk::STREAM_STDOUT);
    resp.mutable_output()->set_data(packet.data() + 1, static_cast<size_t>(got) - 1);
    if (!stream->Write(resp)) {
      detached = true;
      break;
    }
  }
  // Leaving the shim's list of clients; the container is not affected.
  shutdown(conn, SHUT_RDWR);
  if (detached) {
    ctx->TryCancel();
    reader.join();
    return grpc::Status(grpc::StatusCode::CANCELLED, "detached; the container keeps running");
  }
  auto exit = engine->Wait(id, [ctx] { return ctx->IsCancelled(); });
  if (!exit.ok()) {
    ctx->TryCancel();
    reader.join();
    return ToGrpc(exit.status());
  }
  send_exit(exit->exit_code, exit->signal, exit->oom_killed, exit->error);
  // The client closes its side when it has the exit status; one that does not is cut off.
  if (!reader_finished.WaitForNotificationWithTimeout(kCloseGrace)) ctx->TryCancel();
  reader.join();
  return grpc::Status::OK;
}

}  // namespace kapsel::daemon
