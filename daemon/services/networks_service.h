#pragma once

#include "daemon/engine.h"
#include "kapsel/v1/networks.grpc.pb.h"

namespace kapsel::daemon {

// Thin: checks the request, calls the engine's network manager, maps absl::Status to gRPC.
class NetworksService final : public v1::Networks::Service {
 public:
  explicit NetworksService(Engine* engine) : engine_(engine) {}

  grpc::Status Create(grpc::ServerContext*, const v1::CreateNetworkRequest*,
                      v1::CreateNetworkResponse*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListNetworksRequest*,
                    v1::ListNetworksResponse*) override;
  grpc::Status Inspect(grpc::ServerContext*, const v1::InspectNetworkRequest*,
                       v1::InspectNetworkResponse*) override;
  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveNetworkRequest*,
                      v1::RemoveNetworkResponse*) override;
  grpc::Status Connect(grpc::ServerContext*, const v1::ConnectNetworkRequest*,
                       v1::ConnectNetworkResponse*) override;
  grpc::Status Disconnect(grpc::ServerContext*, const v1::DisconnectNetworkRequest*,
                          v1::DisconnectNetworkResponse*) override;

 private:
  Engine* engine_;
};

}  // namespace kapsel::daemon
