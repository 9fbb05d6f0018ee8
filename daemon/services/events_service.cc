#include "daemon/services/events_service.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/services/status.h"

namespace kapsel::daemon {
namespace {

bool Matches(const v1::SubscribeRequest& req, const store::EventRecord& e) {
  if (req.types_size() > 0 &&
      std::find(req.types().begin(), req.types().end(), e.type) == req.types().end()) {
    return false;
  }
  if (!req.container().empty()) {
    auto name = e.attributes.find("name");
    bool by_name = name != e.attributes.end() && name->second == req.container();
    if (!by_name && (e.container_id.empty() || !absl::StartsWith(e.container_id, req.container())))
      return false;
  }
  return true;
}

v1::Event ToProto(const store::EventRecord& e) {
  v1::Event out;
  out.set_sequence(e.sequence);
  out.set_time_unix_nanos(e.time);
  out.set_type(e.type);
  out.set_container_id(e.container_id);
  out.set_image_id(e.image_id);
  for (const auto& [k, v] : e.attributes) (*out.mutable_attributes())[k] = v;
  return out;
}

}  // namespace

grpc::Status EventsService::Subscribe(grpc::ServerContext* ctx, const v1::SubscribeRequest* req,
                                      grpc::ServerWriter<v1::Event>* writer) {
  // Subscribe before replaying, so that nothing falls between the stored and the live events;
  // live events already replayed are skipped by sequence number.
  auto sub = bus_->Subscribe();
  uint64_t last = 0;
  if (req->replay_all() || req->since_sequence() > 0) {
    last = req->replay_all() ? 0 : req->since_sequence();
    for (;;) {
      auto page = repo_->Since(last, 1000);
      if (!page.ok()) return ToGrpc(page.status());
      if (page->empty()) break;
      for (const auto& e : *page) {
        last = e.sequence;
        if (Matches(*req, e) && !writer->Write(ToProto(e))) return grpc::Status::CANCELLED;
      }
    }
  } else {
    auto seq = repo_->LastSequence();
    if (!seq.ok()) return ToGrpc(seq.status());
    last = *seq;
  }
  for (;;) {
    store::EventRecord e;
    switch (sub->Next(&e, absl::Seconds(1))) {
      case Subscription::Result::kEvent:
        if (e.sequence <= last) break;
        last = e.sequence;
        if (Matches(*req, e) && !writer->Write(ToProto(e))) return grpc::Status::CANCELLED;
        break;
      case Subscription::Result::kTimeout:
        if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
        break;
      case Subscription::Result::kOverflow:
        return grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("subscriber fell behind; resume with since_sequence ", last));
      case Subscription::Result::kClosed:
        return grpc::Status(
            grpc::StatusCode::UNAVAILABLE,
            absl::StrCat("kapseld is shutting down; resume with since_sequence ", last));
    }
  }
}

}  // namespace kapsel::daemon
