#include "daemon/event_bus.h"

namespace kapsel::daemon {

Subscription::Result Subscription::Next(store::EventRecord* event, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || overflow_ || closed_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (overflow_) return Result::kOverflow;
  if (!queue_.empty()) {
    *event = std::move(queue_.front());
    queue_.pop_front();
    return Result::kEvent;
  }
  if (closed_) return Result::kClosed;
  return Result::kTimeout;
}

Subscription::~Subscription() { bus_->Unsubscribe(this); }

std::unique_ptr<Subscription> EventBus::Subscribe(size_t limit) {
  std::unique_ptr<Subscription> sub(new Subscription(this, limit));
  absl::MutexLock lock(&mu_);
  if (closed_) {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->closed_ = true;
  }
  subs_.insert(sub.get());
  return sub;
}

void EventBus::Publish(const store::EventRecord& event) {
  absl::MutexLock lock(&mu_);
  for (Subscription* sub : subs_) {
    absl::MutexLock sub_lock(&sub->mu_);
    if (sub->overflow_ || sub->closed_) continue;
    if (sub->queue_.size() >= sub->limit_) {
      sub->overflow_ = true;
      sub->queue_.clear();
      dropped_.fetch_add(1);
      continue;
    }
    sub->queue_.push_back(event);
  }
}

void EventBus::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (Subscription* sub : subs_) {
    absl::MutexLock sub_lock(&sub->mu_);
    sub->closed_ = true;
  }
}

void EventBus::Unsubscribe(Subscription* sub) {
  absl::MutexLock lock(&mu_);
  subs_.erase(sub);
}

}  // namespace kapsel::daemon
