#pragma once

#include "daemon/event_bus.h"
#include "kapsel/v1/events.grpc.pb.h"
#include "store/events_repo.h"

namespace kapsel::daemon {

class EventsService final : public v1::Events::Service {
 public:
  EventsService(EventBus* bus, store::EventRepo* repo) : bus_(bus), repo_(repo) {}
  grpc::Status Subscribe(grpc::ServerContext*, const v1::SubscribeRequest*,
                         grpc::ServerWriter<v1::Event>*) override;

 private:
  EventBus* bus_;
  store::EventRepo* repo_;
};

}  // namespace kapsel::daemon
