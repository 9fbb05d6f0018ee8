#include "daemon/services/networks_service.h"

#include "daemon/services/status.h"

namespace kapsel::daemon {
namespace {

void ToProto(const store::NetworkRecord& n, v1::Network* out) {
  out->set_name(n.name);
  out->set_subnet(n.subnet);
  out->set_gateway(n.gateway);
  out->set_bridge(n.bridge);
  out->set_internal(n.internal);
  out->set_driver(n.driver);
  out->set_created_at_unix_nanos(n.created_at);
}

}  // namespace

grpc::Status NetworksService::Create(grpc::ServerContext*, const v1::CreateNetworkRequest* req,
                                     v1::CreateNetworkResponse* resp) {
  auto n = engine_->network()->CreateNetwork(req->name(), req->subnet(), req->internal());
  if (!n.ok()) return ToGrpc(n.status());
  ToProto(*n, resp->mutable_network());
  return grpc::Status::OK;
}

grpc::Status NetworksService::List(grpc::ServerContext*, const v1::ListNetworksRequest*,
                                   v1::ListNetworksResponse* resp) {
  auto all = engine_->network()->ListNetworks();
  if (!all.ok()) return ToGrpc(all.status());
  for (const auto& n : *all) ToProto(n, resp->add_networks());
  return grpc::Status::OK;
}

grpc::Status NetworksService::Inspect(grpc::ServerContext*, const v1::InspectNetworkRequest* req,
                                      v1::InspectNetworkResponse* resp) {
  auto n = engine_->network()->GetNetwork(req->name());
  if (!n.ok()) return ToGrpc(n.status());
  ToProto(*n, resp->mutable_network());
  auto endpoints = engine_->network()->Endpoints(req->name());
  if (!endpoints.ok()) return ToGrpc(endpoints.status());
  for (const auto& e : *endpoints) {
    v1::NetworkEndpoint* ep = resp->mutable_network()->add_endpoints();
    ep->set_container_id(e.container_id);
    ep->set_ip_address(e.address);
  }
  return grpc::Status::OK;
}

grpc::Status NetworksService::Remove(grpc::ServerContext*, const v1::RemoveNetworkRequest* req,
                                     v1::RemoveNetworkResponse*) {
  return ToGrpc(engine_->network()->RemoveNetwork(req->name()));
}

grpc::Status NetworksService::Connect(grpc::ServerContext*, const v1::ConnectNetworkRequest* req,
                                      v1::ConnectNetworkResponse* resp) {
  auto connected = engine_->ConnectNetwork(req->container(), req->network());
  if (!connected.ok()) return ToGrpc(connected.status());
  resp->set_ip_address(connected->address);
  resp->set_interface(connected->interface);
  return grpc::Status::OK;
}

grpc::Status NetworksService::Disconnect(grpc::ServerContext*,
                                         const v1::DisconnectNetworkRequest* req,
                                         v1::DisconnectNetworkResponse*) {
  return ToGrpc(engine_->DisconnectNetwork(req->container(), req->network()));
}

}  // namespace kapsel::daemon
