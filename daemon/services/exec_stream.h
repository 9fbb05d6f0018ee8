#pragma once

// The streaming side of the Exec RPC: the first request is the ExecSpec; then a reader thread
// forwards stdin, resizes (TIOCSWINSZ on the pty master) and close_stdin to the process while
// the handler's thread relays its stdout and stderr (or the pty) as OutputChunks and, at the end,
// the ExitStatus. A client that goes away has the process and its helper SIGKILLed.

#include "daemon/engine.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/sync_stream.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::daemon {

grpc::Status ServeExec(Engine* engine, grpc::ServerContext* ctx,
                       grpc::ServerReaderWriter<v1::ExecResponse, v1::ExecRequest>* stream);

}  // namespace kapsel::daemon
