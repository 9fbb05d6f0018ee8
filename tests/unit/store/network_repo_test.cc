#include "store/network_repo.h"

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::TempDir;

class NetworkRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    repo_ = std::make_unique<NetworkRepo>(db_.get());
  }

  absl::Status Create(const std::string& name, const std::string& subnet,
                      const std::string& bridge) {
    NetworkRecord n;
    n.name = name;
    n.subnet = subnet;
    n.bridge = bridge;
    return repo_->Create(n);
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<NetworkRepo> repo_;
};

TEST_F(NetworkRepoTest, CreateGetListRemove) {
  NetworkRecord n;
  n.name = "bridge";
  n.subnet = "10.213.1.0/24";
  n.bridge = "kapsel0";
  ASSERT_TRUE(repo_->Create(n).ok());
  EXPECT_EQ(n.gateway, "10.213.1.1");
  EXPECT_NE(n.created_at, 0);
  ASSERT_TRUE(Create("internal", "10.213.2.0/24", "kbr1").ok());

  absl::StatusOr<NetworkRecord> got = repo_->Get("bridge");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->subnet, "10.213.1.0/24");
  EXPECT_EQ(got->gateway, "10.213.1.1");
  EXPECT_EQ(got->bridge, "kapsel0");
  EXPECT_EQ(got->driver, "bridge");
  EXPECT_FALSE(got->internal);

  absl::StatusOr<std::vector<NetworkRecord>> all = repo_->List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "bridge");
  EXPECT_EQ((*all)[1].name, "internal");

  ASSERT_TRUE(repo_->Remove("internal").ok());
  EXPECT_TRUE(absl::IsNotFound(repo_->Get("internal").status()));
  absl::Status missing = repo_->Remove("internal");
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_EQ(missing.message(), "network \"internal\" not found");
}

TEST_F(NetworkRepoTest, RefusesDuplicatesAndOverlaps) {
  ASSERT_TRUE(Create("a", "10.213.0.0/16", "kbra").ok());
  absl::Status same_name = Create("a", "10.214.0.0/24", "kbrb");
  EXPECT_TRUE(absl::IsAlreadyExists(same_name)) << same_name;
  EXPECT_EQ(same_name.message(), "network \"a\" already exists");
  absl::Status overlap = Create("b", "10.213.7.0/24", "kbrb");
  EXPECT_TRUE(absl::IsFailedPrecondition(overlap)) << overlap;
  EXPECT_EQ(overlap.message(), "subnet 10.213.7.0/24 overlaps network \"a\" (10.213.0.0/16)");
  EXPECT_TRUE(absl::IsAlreadyExists(Create("c", "10.215.0.0/24", "kbra")));
  EXPECT_TRUE(absl::IsInvalidArgument(Create("d", "10.215.0.1/24", "kbrd")));
  EXPECT_EQ(testing::CountRows(*db_, "networks"), 1);
}

TEST_F(NetworkRepoTest, AllocateIsIdempotentAndNeverHandsOutTwice) {
  ASSERT_TRUE(Create("n", "10.213.1.0/29", "kbrn").ok());  // .2 to .6 usable
  absl::StatusOr<std::string> a = repo_->Allocate("n", "c1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, "10.213.1.2");
  EXPECT_EQ(*repo_->Allocate("n", "c1"), "10.213.1.2");
  EXPECT_EQ(*repo_->Allocate("n", "c2"), "10.213.1.3");
  ASSERT_TRUE(repo_->Release("n", "c1").ok());
  ASSERT_TRUE(repo_->Release("n", "c1").ok());
  EXPECT_EQ(*repo_->Allocate("n", "c3"), "10.213.1.2");
  EXPECT_EQ(*repo_->Allocate("n", "c4"), "10.213.1.4");
  EXPECT_EQ(*repo_->Allocate("n", "c5"), "10.213.1.5");
  EXPECT_EQ(*repo_->Allocate("n", "c6"), "10.213.1.6");
  absl::StatusOr<std::string> full = repo_->Allocate("n", "c7");
  EXPECT_TRUE(absl::IsResourceExhausted(full.status())) << full.status();
  EXPECT_TRUE(absl::IsNotFound(repo_->Allocate("nope", "c1").status()));

  absl::Status in_use = repo_->Remove("n");
  EXPECT_TRUE(absl::IsFailedPrecondition(in_use)) << in_use;
  EXPECT_EQ(in_use.message(), "network \"n\" is in use by 5 container(s)");
}

TEST_F(NetworkRepoTest, ConcurrentAllocationsAreDistinct) {
  ASSERT_TRUE(Create("n", "10.213.1.0/24", "kbrn").ok());
  std::vector<std::string> got(40);
  std::vector<std::thread> threads;
  for (int i = 0; i < 40; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::string> a = repo_->Allocate("n", "c" + std::to_string(i));
      got[i] = a.ok() ? *a : a.status().ToString();
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), 40u);
  for (const std::string& address : got) EXPECT_EQ(address.rfind("10.213.1.", 0), 0u) << address;
}

TEST_F(NetworkRepoTest, ReleaseAllAndPersistenceAcrossReopen) {
  ASSERT_TRUE(Create("a", "10.213.1.0/24", "kbra").ok());
  ASSERT_TRUE(Create("b", "10.213.2.0/24", "kbrb").ok());
  ASSERT_TRUE(repo_->Allocate("a", "c1").ok());
  ASSERT_TRUE(repo_->Allocate("b", "c1").ok());
  ASSERT_TRUE(repo_->Allocate("a", "c2").ok());
  EXPECT_EQ(repo_->AllocationsOf("c1")->size(), 2u);

  repo_.reset();
  db_.reset();
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  db_ = *std::move(db);
  repo_ = std::make_unique<NetworkRepo>(db_.get());
  absl::StatusOr<std::vector<IpAllocation>> all = repo_->Allocations();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].network, "a");
  EXPECT_EQ((*all)[0].address, "10.213.1.2");
  EXPECT_EQ((*all)[0].container_id, "c1");

  ASSERT_TRUE(repo_->ReleaseAll("c1").ok());
  EXPECT_TRUE(repo_->AllocationsOf("c1")->empty());
  EXPECT_EQ(repo_->Allocations("a")->size(), 1u);
}

TEST_F(NetworkRepoTest, PublishedPortsAllOrNoneAndReleasedWithTheContainer) {
  ASSERT_TRUE(Create("n", "10.213.1.0/24", "kbrn").ok());
  ASSERT_TRUE(
      repo_
          ->AddPorts({{"c1", "n", "127.0.0.1", 18080, 80, "tcp"}, {"c1", "n", "", 5353, 53, "udp"}})
          .ok());
  absl::Status taken =
      repo_->AddPorts({{"c2", "n", "", 9000, 90, "tcp"}, {"c2", "n", "", 18080, 80, "tcp"}});
  EXPECT_TRUE(absl::IsFailedPrecondition(taken)) << taken;
  EXPECT_EQ(taken.message(), "host port 0.0.0.0:18080/tcp is already published by c1");
  EXPECT_TRUE(repo_->Ports("c2")->empty()) << "all or none";
  EXPECT_TRUE(repo_->AddPorts({{"c2", "n", "10.0.0.1", 18080, 80, "udp"}}).ok());
  EXPECT_EQ(repo_->Ports()->size(), 3u);
  ASSERT_TRUE(repo_->ReleaseAll("c1").ok());
  absl::StatusOr<std::vector<PublishedPortRecord>> left = repo_->Ports();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].container_id, "c2");
}

}  // namespace
}  // namespace kapsel::store
