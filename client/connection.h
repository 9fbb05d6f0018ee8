#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/channel.h"

namespace kapsel::client {

inline constexpr char kDefaultSocketPath[] = "/run/kapsel/kapsel.sock";
inline constexpr char kSocketEnvVar[] = "KAPSEL_SOCKET";

// The API socket: the --socket flag when given, else $KAPSEL_SOCKET when set and non-empty, else
// /run/kapsel/kapsel.sock.
std::string ResolveSocketPath(absl::string_view flag_value,
                              const std::optional<std::string>& env_value);

// Checks that something accepts connections on the Unix socket at `path` and returns a gRPC
// channel to it. The check is one connect(2), so a missing socket, a refused connection or a
// permission problem is reported with its errno text instead of a gRPC deadline later. The error
// reads "cannot connect to kapseld at <path>: <reason>".
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const std::string& path);

}  // namespace kapsel::client
