#pragma once

// A gRPC server interceptor that logs every API request at debug level with the caller's uid and
// pid, and its failures with their status, and gives the records logged while the request is
// served its method and caller as fields (logging.h). The caller is found from the connection:
// connections handed over by ApiListener have the peer "fd:N", and SO_PEERCRED of fd N is the
// caller's (the fd stays open while a call on it runs).

#include <memory>
#include <optional>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"

namespace kapsel::daemon {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRequestLogInterceptorFactory();

// N of gRPC's peer string "fd:N" for connections added with AddInsecureChannelFromFd.
std::optional<int> FdOfPeer(absl::string_view peer);

}  // namespace kapsel::daemon
