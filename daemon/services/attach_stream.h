#pragma once

// The streaming side of the Attach RPC. The first request names the container (and whether to
// start it); with a terminal and `start`, the second is the window size it starts with. Then a
// reader thread passes stdin, window sizes and close_stdin to the shim's attach socket while the
// handler's thread relays the container's output. When the container exits the stream ends with
// its ExitStatus; a client that cancels the call has detached, and the container keeps running.

#include "daemon/engine.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::daemon {

grpc::Status ServeAttach(Engine* engine, grpc::ServerContext* ctx,
                         grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>* stream);

}  // namespace kapsel::daemon
