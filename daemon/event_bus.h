#pragma once

// Fan-out of stored events to live subscribers. Events are first written to SQLite (with their
// sequence number, in the transaction of the state change they report); Publish then hands them
// to subscribers. Each subscriber has a bounded queue: one that falls behind is cut off (its
// Next() reports overflow) instead of slowing the daemon or other subscribers.
// Thread-safe.

#include <cstddef>
#include <deque>
#include <memory>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/events_repo.h"

namespace kapsel::daemon {

class EventBus;

class Subscription {
 public:
  enum class Result { kEvent, kTimeout, kOverflow, kClosed };
  // Waits up to `timeout` for the next event.
  Result Next(store::EventRecord* event, absl::Duration timeout);
  ~Subscription();

 private:
  friend class EventBus;
  explicit Subscription(EventBus* bus, size_t limit) : bus_(bus), limit_(limit) {}
  EventBus* bus_;
  const size_t limit_;
  absl::Mutex mu_;
  std::deque<store::EventRecord> queue_ ABSL_GUARDED_BY(mu_);
  bool overflow_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class EventBus {
 public:
  static constexpr size_t kDefaultQueueLimit = 4096;
  std::unique_ptr<Subscription> Subscribe(size_t limit = kDefaultQueueLimit);
  void Publish(const store::EventRecord& event);
  // Ends every subscription (daemon shutdown).
  void Close();
  uint64_t dropped_subscribers() const { return dropped_.load(); }

 private:
  friend class Subscription;
  void Unsubscribe(Subscription* sub);
  absl::Mutex mu_;
  std::set<Subscription*> subs_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace kapsel::daemon
