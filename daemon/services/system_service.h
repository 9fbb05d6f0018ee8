#pragma once

#include "daemon/engine.h"
#include "kapsel/v1/system.grpc.pb.h"

namespace kapsel::daemon {

class SystemService final : public v1::System::Service {
 public:
  explicit SystemService(Engine* engine) : engine_(engine) {}
  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*,
                       v1::VersionResponse*) override;
  grpc::Status Info(grpc::ServerContext*, const v1::InfoRequest*, v1::InfoResponse*) override;
  grpc::Status Health(grpc::ServerContext*, const v1::HealthRequest*, v1::HealthResponse*) override;

 private:
  Engine* engine_;
};

}  // namespace kapsel::daemon
