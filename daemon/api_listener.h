#pragma once

// The API socket's accept loop. kapseld accepts connections itself, reads the peer's credentials
// (peer_access.h) and hands each connection to one of two gRPC servers without listening ports:
// the API server for root and members of the socket group, and a server that answers every call
// with PERMISSION_DENIED (DenyAllService) for everyone else. The socket file's mode (root:group
// 0660) already keeps others out; this check holds even when the mode is loosened, or the socket
// is passed on.

#include <sys/socket.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "daemon/accept_loop.h"
#include "daemon/connection_limit.h"
#include "daemon/peer_access.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "runtime/linux/unique_fd.h"

namespace kapsel::daemon {

// The API socket at `path`, root:`gid` mode 0660 (BindUnixSocket).
inline absl::StatusOr<linux::UniqueFd> BindApiSocket(const std::string& path, gid_t gid) {
  return BindUnixSocket(path, gid, SOMAXCONN);
}

// Ends every call with PERMISSION_DENIED and a message that names the caller's uid and the group
// it lacks (DenialMessage). Register it with RegisterCallbackGenericService on a server that has
// nothing else.
class DenyAllService : public grpc::CallbackGenericService {
 public:
  explicit DenyAllService(AccessPolicy policy) : policy_(std::move(policy)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

 private:
  const AccessPolicy policy_;
};

// Thread-safe. The servers must outlive Stop(). At most `max_connections` connections are open at
// once (ConnectionLimit); one more is closed at once, with a warning in the log.
class ApiListener {
 public:
  ApiListener(linux::UniqueFd listen_fd, AccessPolicy policy, grpc::Server* api,
              grpc::Server* refused, size_t max_connections = ConnectionLimit::DefaultMax());
  ~ApiListener();
  ApiListener(const ApiListener&) = delete;
  ApiListener& operator=(const ApiListener&) = delete;

  absl::Status Start();
  // Stops accepting; connections already handed over stay with their server. Idempotent.
  void Stop();

 private:
  void Run();
  void Admit(linux::UniqueFd conn);

  linux::UniqueFd listen_fd_;
  linux::UniqueFd stop_fd_;
  const AccessPolicy policy_;
  grpc::Server* const api_;
  grpc::Server* const refused_;
  ConnectionLimit limit_;
  std::thread thread_;
};

}  // namespace kapsel::daemon
