#include "daemon/api_listener.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/accept_loop.h"
#include "daemon/request_log.h"
#include "grpcpp/server_posix.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {

grpc::ServerGenericBidiReactor* DenyAllService::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  PeerCredentials peer;
  peer.uid = static_cast<uid_t>(-1);
  if (auto fd = FdOfPeer(ctx->peer()); fd.has_value()) {
    if (auto creds = ReadPeerCredentials(*fd); creds.ok()) peer = *std::move(creds);
  }
  spdlog::debug("refused request {} from uid {} pid {}", ctx->method(), peer.uid, peer.pid);
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(std::string message) {
      Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message));
    }
    void OnDone() override { delete this; }
  };
  return new Reactor(DenialMessage(peer, policy_));
}

ApiListener::ApiListener(linux::UniqueFd listen_fd, AccessPolicy policy, grpc::Server* api,
                         grpc::Server* refused, size_t max_connections)
    : listen_fd_(std::move(listen_fd)),
      policy_(std::move(policy)),
      api_(api),
      refused_(refused),
      limit_(max_connections) {}

ApiListener::~ApiListener() { Stop(); }

absl::Status ApiListener::Start() {
  stop_fd_.Reset(eventfd(0, EFD_CLOEXEC));
  if (!stop_fd_) return absl::ErrnoToStatus(errno, "eventfd");
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ApiListener::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  ssize_t unused = write(stop_fd_.get(), &one, sizeof(one));
  (void)unused;
  thread_.join();
}

void ApiListener::Run() {
  AcceptLoop(listen_fd_.get(), stop_fd_.get(), "api socket",
             [this](linux::UniqueFd conn) { Admit(std::move(conn)); });
}

void ApiListener::Admit(linux::UniqueFd conn) {
  auto peer = ReadPeerCredentials(conn.get());
  if (!limit_.Admit(conn.get())) {
    // Closed at once: the client sees the connection end (UNAVAILABLE) and may retry. One line
    // per second at most, so that a flood does not flood the log too.
    static std::atomic<int64_t> last_warning{0};
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    if (last_warning.exchange(now) != now) {
      spdlog::warn("api socket: too many open connections, closing one from uid {} pid {}",
                   peer.ok() ? static_cast<int64_t>(peer->uid) : -1,
                   peer.ok() ? static_cast<int64_t>(peer->pid) : -1);
    }
    return;
  }
  if (!peer.ok()) {
    spdlog::warn("api socket: dropping a connection: {}", std::string(peer.status().message()));
    return;
  }
  if (MayUseApi(*peer, policy_)) {
    spdlog::debug("api connection from uid {} gid {} pid {}", peer->uid, peer->gid, peer->pid);
    // gRPC owns the fd from here on and closes it with the connection.
    grpc::AddInsecureChannelFromFd(api_, conn.Release());
    return;
  }
  spdlog::warn("api connection from uid {} pid {} refused: not root and not in group {}", peer->uid,
               peer->pid, policy_.group_name);
  grpc::AddInsecureChannelFromFd(refused_, conn.Release());
}

}  // namespace kapsel::daemon
