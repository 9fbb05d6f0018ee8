#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/parse.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"

namespace kapsel::client {

// Exit codes shared with docker: 125 when kapselctl or the engine failed.
inline constexpr int kExitEngineError = 125;

// The state of one kapselctl invocation, shared by the commands: the --socket flag, the terminal
// streams, the environment and the exit code. The channel is opened on first use. Not
// thread-safe; one command runs per invocation.
class Context {
 public:
  Context(std::ostream& out, std::ostream& err, EnvLookup env);

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Bound to the global --socket flag.
  std::string* mutable_socket_flag() { return &socket_flag_; }
  std::string SocketPath() const;

  // The channel to kapseld; the error is the "cannot connect to kapseld at ..." line.
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel();

  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  const EnvLookup& env() const { return env_; }

  int exit_code() const { return exit_code_; }
  void set_exit_code(int code) { exit_code_ = code; }

  // Print "kapselctl: <message>" on stderr and return kExitEngineError.
  int Fail(absl::string_view message);
  int Fail(const absl::Status& status);
  int Fail(const grpc::Status& status);

 private:
  std::ostream& out_;
  std::ostream& err_;
  EnvLookup env_;
  std::string socket_flag_;
  std::shared_ptr<grpc::Channel> channel_;
  int exit_code_ = 0;
};

// The message of a failed RPC, or the code's name when the server sent none (an UNIMPLEMENTED
// method of a daemon that is still being written answers with an empty message).
std::string RpcErrorMessage(const grpc::Status& status);

}  // namespace kapsel::client
