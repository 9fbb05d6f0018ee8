#pragma once

#include "daemon/engine.h"
#include "daemon/lifecycle_policy.h"
#include "kapsel/v1/containers.grpc.pb.h"

namespace kapsel::daemon {

// Thin: checks the request, calls the engine, maps absl::Status to grpc::Status.
class ContainersService final : public v1::Containers::Service {
 public:
  explicit ContainersService(Engine* engine) : engine_(engine) {}

  grpc::Status Create(grpc::ServerContext*, const v1::CreateContainerRequest*,
                      v1::CreateContainerResponse*) override;
  grpc::Status Start(grpc::ServerContext*, const v1::StartContainerRequest*,
                     v1::StartContainerResponse*) override;
  grpc::Status Run(grpc::ServerContext*, const v1::RunContainerRequest*,
                   grpc::ServerWriter<v1::RunContainerResponse>*) override;
  grpc::Status Stop(grpc::ServerContext*, const v1::StopContainerRequest*,
                    v1::StopContainerResponse*) override;
  grpc::Status Kill(grpc::ServerContext*, const v1::KillContainerRequest*,
                    v1::KillContainerResponse*) override;
  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveContainerRequest*,
                      v1::RemoveContainerResponse*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListContainersRequest*,
                    v1::ListContainersResponse*) override;
  grpc::Status Inspect(grpc::ServerContext*, const v1::InspectContainerRequest*,
                       v1::InspectContainerResponse*) override;
  grpc::Status Wait(grpc::ServerContext*, const v1::WaitContainerRequest*,
                    v1::WaitContainerResponse*) override;
  grpc::Status Logs(grpc::ServerContext*, const v1::LogsRequest*,
                    grpc::ServerWriter<v1::LogEntry>*) override;

  grpc::Status Restart(grpc::ServerContext*, const v1::RestartContainerRequest*,
                       v1::RestartContainerResponse*) override;
  grpc::Status Pause(grpc::ServerContext*, const v1::PauseContainerRequest*,
                     v1::PauseContainerResponse*) override;
  grpc::Status Unpause(grpc::ServerContext*, const v1::UnpauseContainerRequest*,
                       v1::UnpauseContainerResponse*) override;
  grpc::Status Exec(grpc::ServerContext*,
                    grpc::ServerReaderWriter<v1::ExecResponse, v1::ExecRequest>*) override;
  grpc::Status Attach(grpc::ServerContext*,
                      grpc::ServerReaderWriter<v1::AttachResponse, v1::AttachRequest>*) override;
  grpc::Status Stats(grpc::ServerContext*, const v1::StatsRequest*,
                     grpc::ServerWriter<v1::StatsResponse>*) override;
  grpc::Status Update(grpc::ServerContext*, const v1::UpdateContainerRequest*,
                      v1::UpdateContainerResponse*) override;
  grpc::Status Rename(grpc::ServerContext*, const v1::RenameContainerRequest*,
                      v1::RenameContainerResponse*) override;
  grpc::Status Top(grpc::ServerContext*, const v1::TopRequest*, v1::TopResponse*) override;
  grpc::Status AddMount(grpc::ServerContext*, const v1::AddMountRequest*,
                        v1::AddMountResponse*) override;
  grpc::Status RemoveMount(grpc::ServerContext*, const v1::RemoveMountRequest*,
                           v1::RemoveMountResponse*) override;
  grpc::Status ListMounts(grpc::ServerContext*, const v1::ListMountsRequest*,
                          v1::ListMountsResponse*) override;

 private:
  // Streams the log of container `id` to `emit` until the container has exited (follow) or the
  // end of the file; `caught_up` runs once, when what was in the file has been read. Returns
  // false when the client went away.
  bool FollowLog(grpc::ServerContext* ctx, const std::string& id, bool follow, int fd_exit,
                 const std::function<bool(const v1::OutputChunk&, int64_t)>& emit,
                 const std::function<bool()>& caught_up = nullptr);
  Engine* engine_;
};

}  // namespace kapsel::daemon
