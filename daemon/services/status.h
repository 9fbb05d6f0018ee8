#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace kapsel::daemon {

// absl::StatusCode and grpc::StatusCode share their numbering (both follow google.rpc.Code).
inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace kapsel::daemon
