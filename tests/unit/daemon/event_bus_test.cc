#include "daemon/event_bus.h"

#include "gtest/gtest.h"

namespace kapsel::daemon {
namespace {

store::EventRecord Event(uint64_t seq) {
  store::EventRecord e;
  e.sequence = seq;
  e.type = "start";
  return e;
}

TEST(EventBusTest, DeliversInOrder) {
  EventBus bus;
  auto sub = bus.Subscribe();
  bus.Publish(Event(1));
  bus.Publish(Event(2));
  store::EventRecord e;
  ASSERT_EQ(sub->Next(&e, absl::ZeroDuration()), Subscription::Result::kEvent);
  EXPECT_EQ(e.sequence, 1u);
  ASSERT_EQ(sub->Next(&e, absl::ZeroDuration()), Subscription::Result::kEvent);
  EXPECT_EQ(e.sequence, 2u);
  EXPECT_EQ(sub->Next(&e, absl::Milliseconds(10)), Subscription::Result::kTimeout);
}

TEST(EventBusTest, SlowSubscriberIsCutOffWithoutBlockingOthers) {
  EventBus bus;
  auto slow = bus.Subscribe(/*limit=*/3);
  auto fast = bus.Subscribe();
  store::EventRecord e;
  for (uint64_t i = 1; i <= 10; ++i) {
    bus.Publish(Event(i));
    ASSERT_EQ(fast->Next(&e, absl::ZeroDuration()), Subscription::Result::kEvent);
    EXPECT_EQ(e.sequence, i);
  }
  EXPECT_EQ(slow->Next(&e, absl::ZeroDuration()), Subscription::Result::kOverflow);
  EXPECT_EQ(bus.dropped_subscribers(), 1u);
}

TEST(EventBusTest, CloseEndsSubscriptions) {
  EventBus bus;
  auto sub = bus.Subscribe();
  bus.Close();
  store::EventRecord e;
  EXPECT_EQ(sub->Next(&e, absl::Seconds(5)), Subscription::Result::kClosed);
}

}  // namespace
}  // namespace kapsel::daemon
