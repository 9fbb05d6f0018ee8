#include "daemon/request_log.h"

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/logging.h"
#include "daemon/peer_access.h"
#include "grpcpp/server_context.h"
#include "spdlog/spdlog.h"

namespace kapsel::daemon {
namespace {

using grpc::experimental::InterceptionHookPoints;

class RequestLogInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit RequestLogInterceptor(grpc::experimental::ServerRpcInfo* info) : info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const std::string peer = info_->server_context()->peer();
      if (auto fd = FdOfPeer(peer); fd.has_value()) {
        if (auto creds = ReadPeerCredentials(*fd); creds.ok()) {
          uid_ = absl::StrCat(creds->uid);
          pid_ = absl::StrCat(creds->pid);
        }
      }
      // Sync handlers run on the thread that received the call; the fields are cleared on the
      // same thread once the status goes out.
      thread_ = std::this_thread::get_id();
      logging::SetRequestFields(
          {{"method", info_->method()}, {"peer_uid", uid_}, {"peer_pid", pid_}});
      spdlog::debug("request {} from uid {} pid {}", info_->method(), uid_, pid_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (!status.ok()) {
        spdlog::debug("request {} from uid {} pid {}: code {}: {}", info_->method(), uid_, pid_,
                      static_cast<int>(status.error_code()), status.error_message());
      }
      if (std::this_thread::get_id() == thread_) logging::ClearRequestFields();
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  std::string uid_ = "?";
  std::string pid_ = "?";
  std::thread::id thread_;
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RequestLogInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRequestLogInterceptorFactory() {
  return std::make_unique<Factory>();
}

std::optional<int> FdOfPeer(absl::string_view peer) {
  if (!absl::StartsWith(peer, "fd:")) return std::nullopt;
  int fd = -1;
  if (!absl::SimpleAtoi(peer.substr(3), &fd) || fd < 0) return std::nullopt;
  return fd;
}

}  // namespace kapsel::daemon
