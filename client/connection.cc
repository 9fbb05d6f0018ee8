#include "client/connection.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace kapsel::client {
namespace {

// Returns an empty string when a connect(2) to the socket succeeds, else the reason it failed.
std::string ProbeUnixSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // sun_path holds 108 bytes including the terminating NUL (unix(7)).
  if (path.empty()) return "empty socket path";
  if (path.size() >= sizeof(addr.sun_path)) return "socket path is too long";
  std::memcpy(addr.sun_path, path.data(), path.size());

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::StrCat("socket: ", std::strerror(errno));
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc < 0 && errno == EINTR);
  std::string reason = rc < 0 ? std::strerror(errno) : "";
  close(fd);
  return reason;
}

}  // namespace

std::string ResolveSocketPath(absl::string_view flag_value,
                              const std::optional<std::string>& env_value) {
  if (!flag_value.empty()) return std::string(flag_value);
  if (env_value.has_value() && !env_value->empty()) return *env_value;
  return kDefaultSocketPath;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const std::string& path) {
  if (std::string reason = ProbeUnixSocket(path); !reason.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to kapseld at ", path, ": ", reason));
  }
  // gRPC's "unix://" form takes an absolute path only; "unix:" also takes a relative one.
  std::string target = absl::StrCat(path.front() == '/' ? "unix://" : "unix:", path);
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

}  // namespace kapsel::client
