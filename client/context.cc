#include "client/context.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/connection.h"

namespace kapsel::client {
namespace {

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "ok";
    case grpc::StatusCode::CANCELLED:
      return "cancelled";
    case grpc::StatusCode::UNKNOWN:
      return "unknown error";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline exceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "not found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already exists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "resource exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "failed precondition";
    case grpc::StatusCode::ABORTED:
      return "aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "out of range";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "not implemented by this kapseld";
    case grpc::StatusCode::INTERNAL:
      return "internal error";
    case grpc::StatusCode::UNAVAILABLE:
      return "kapseld unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "data loss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthenticated";
    default:
      return absl::StrCat("grpc error ", static_cast<int>(code));
  }
}

}  // namespace

std::string RpcErrorMessage(const grpc::Status& status) {
  if (status.error_message().empty()) return CodeName(status.error_code());
  // The message is printed as one line.
  return absl::StrReplaceAll(status.error_message(), {{"\n", " "}});
}

Context::Context(std::ostream& out, std::ostream& err, EnvLookup env)
    : out_(out), err_(err), env_(std::move(env)) {}

std::string Context::SocketPath() const {
  return ResolveSocketPath(socket_flag_, env_(kSocketEnvVar));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Context::Channel() {
  if (channel_ == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Connect(SocketPath());
    if (!channel.ok()) return channel.status();
    channel_ = *std::move(channel);
  }
  return channel_;
}

int Context::Fail(absl::string_view message) {
  err_ << "kapselctl: " << message << std::endl;
  return kExitEngineError;
}

int Context::Fail(const absl::Status& status) { return Fail(status.message()); }

int Context::Fail(const grpc::Status& status) { return Fail(RpcErrorMessage(status)); }

}  // namespace kapsel::client
