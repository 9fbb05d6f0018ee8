#include "store/events_repo.h"

#include <memory>

#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::TempDir;

TEST(EventRepoTest, SequencesAreMonotonicAndSinceReplays) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EventRepo repo(db->get());
  absl::StatusOr<uint64_t> last = repo.LastSequence();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 0u);

  uint64_t previous = 0;
  for (int i = 0; i < 5; ++i) {
    EventRecord e;
    e.type = i % 2 == 0 ? "start" : "exit";
    e.container_id = "c" + std::to_string(i);
    e.attributes["exitCode"] = std::to_string(i);
    absl::StatusOr<uint64_t> seq = repo.Append(e);
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, previous + 1);
    EXPECT_EQ(e.sequence, *seq);
    EXPECT_GT(e.time, 0);
    previous = *seq;
  }
  // A rolled-back append leaves no gap.
  absl::Status status = (*db)->InTransaction([&]() -> absl::Status {
    EventRecord e;
    e.type = "oom";
    absl::StatusOr<uint64_t> seq = repo.Append(e);
    if (!seq.ok()) return seq.status();
    return absl::AbortedError("undo");
  });
  EXPECT_TRUE(absl::IsAborted(status));
  EventRecord after;
  after.type = "remove";
  after.time = 42;
  absl::StatusOr<uint64_t> seq = repo.Append(after);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 6u);
  EXPECT_EQ(after.time, 42);

  absl::StatusOr<std::vector<EventRecord>> since = repo.Since(2, 100);
  ASSERT_TRUE(since.ok()) << since.status();
  ASSERT_EQ(since->size(), 4u);
  EXPECT_EQ((*since)[0].sequence, 3u);
  EXPECT_EQ((*since)[0].container_id, "c2");
  EXPECT_EQ((*since)[0].attributes.at("exitCode"), "2");
  EXPECT_EQ((*since)[3].type, "remove");

  since = repo.Since(0, 2);
  ASSERT_TRUE(since.ok());
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[1].sequence, 2u);

  last = repo.LastSequence();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, 6u);
}

}  // namespace
}  // namespace kapsel::store
