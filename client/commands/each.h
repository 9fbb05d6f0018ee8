#pragma once

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "client/context.h"
#include "grpcpp/support/status.h"

namespace kapsel::client {

// Runs `call` for each container like docker's multi-container verbs: a failure prints its error
// line and the others still run; the result is 0, or 125 when any call failed. `call` prints
// what a success shows.
inline int ForEachContainer(Context& ctx, const std::vector<std::string>& containers,
                            absl::FunctionRef<grpc::Status(const std::string&)> call) {
  int result = 0;
  for (const std::string& container : containers) {
    grpc::Status status = call(container);
    if (!status.ok()) result = ctx.Fail(status);
  }
  return result;
}

}  // namespace kapsel::client
