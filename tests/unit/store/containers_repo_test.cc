#include "store/containers_repo.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::TempDir;

class ContainerRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    repo_ = std::make_unique<ContainerRepo>(db_.get());
  }

  static ContainerRecord Make(const std::string& id_prefix, const std::string& name,
                              int64_t created_at) {
    ContainerRecord c;
    c.id = id_prefix + std::string(64 - id_prefix.size(), '0');
    c.name = name;
    c.image_ref = "busybox";
    c.image_id = "sha256:" + std::string(64, 'b');
    c.state = "created";
    c.spec_json = R"({"process":{}})";
    c.command_json = R"(["sh"])";
    c.created_at = created_at;
    return c;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<ContainerRepo> repo_;
};

TEST_F(ContainerRepoTest, InsertGetUpdateRoundTrip) {
  ContainerRecord c = Make("abc123", "web", 10);
  ASSERT_TRUE(repo_->Insert(c).ok());
  absl::StatusOr<ContainerRecord> got = repo_->Get(c.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "web");
  EXPECT_EQ(got->state, "created");
  EXPECT_EQ(got->spec_json, c.spec_json);

  c.state = "exited";
  c.pid = 4242;
  c.shim_pid = 4241;
  c.shim_start_time = 1234567890123ULL;
  c.exit_code = 137;
  c.exit_signal = 9;
  c.oom_killed = true;
  c.error = "oom";
  c.started_at = 11;
  c.finished_at = 12;
  ASSERT_TRUE(repo_->Update(c).ok());
  got = repo_->Get(c.id);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state, "exited");
  EXPECT_EQ(got->pid, 4242);
  EXPECT_EQ(got->shim_pid, 4241);
  EXPECT_EQ(got->shim_start_time, 1234567890123ULL);
  EXPECT_EQ(got->exit_code, 137);
  EXPECT_EQ(got->exit_signal, 9);
  EXPECT_TRUE(got->oom_killed);
  EXPECT_EQ(got->error, "oom");
  EXPECT_EQ(got->finished_at, 12);
}

TEST_F(ContainerRepoTest, UpdateAndDeleteOfMissingAreNotFound) {
  ContainerRecord c = Make("dead", "ghost", 1);
  EXPECT_TRUE(absl::IsNotFound(repo_->Update(c)));
  EXPECT_TRUE(absl::IsNotFound(repo_->Delete(c.id)));
  absl::StatusOr<ContainerRecord> got = repo_->Get(c.id);
  EXPECT_TRUE(absl::IsNotFound(got.status()));
  EXPECT_EQ(got.status().message(), "no such container: " + c.id);
}

TEST_F(ContainerRepoTest, DuplicateNameIsRefused) {
  ContainerRecord a = Make("aaaa11112222", "web", 1);
  ContainerRecord b = Make("bbbb", "web", 2);
  ASSERT_TRUE(repo_->Insert(a).ok());
  absl::Status status = repo_->Insert(b);
  EXPECT_TRUE(absl::IsAlreadyExists(status)) << status;
  EXPECT_EQ(status.message(), "container name \"web\" is already in use by aaaa11112222");
  absl::StatusOr<std::vector<ContainerRecord>> all = repo_->List();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(ContainerRepoTest, ResolveByIdNamePrefix) {
  ASSERT_TRUE(repo_->Insert(Make("abc1", "alpha", 1)).ok());
  ASSERT_TRUE(repo_->Insert(Make("abc2", "beta", 2)).ok());
  ASSERT_TRUE(repo_->Insert(Make("def", "gamma", 3)).ok());

  absl::StatusOr<ContainerRecord> r = repo_->Resolve(Make("abc1", "", 0).id);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "alpha");

  r = repo_->Resolve("beta");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "beta");

  r = repo_->Resolve("de");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "gamma");

  r = repo_->Resolve("abc");
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "container id prefix \"abc\" is ambiguous");

  r = repo_->Resolve("nope");
  EXPECT_TRUE(absl::IsNotFound(r.status())) << r.status();
  EXPECT_EQ(r.status().message(), "no such container: nope");
  // A LIKE wildcard must not match everything.
  EXPECT_TRUE(absl::IsNotFound(repo_->Resolve("%").status()));
  EXPECT_TRUE(absl::IsNotFound(repo_->Resolve("").status()));
}

TEST_F(ContainerRepoTest, NameWinsOverPrefix) {
  ASSERT_TRUE(repo_->Insert(Make("beef", "one", 1)).ok());
  ASSERT_TRUE(repo_->Insert(Make("cafe", "beef", 2)).ok());
  absl::StatusOr<ContainerRecord> r = repo_->Resolve("beef");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->name, "beef");
}

TEST_F(ContainerRepoTest, ListNewestFirstDeleteAndCount) {
  ASSERT_TRUE(repo_->Insert(Make("01", "old", 1)).ok());
  ASSERT_TRUE(repo_->Insert(Make("02", "new", 5)).ok());
  ContainerRecord other = Make("03", "other", 3);
  other.image_id = "sha256:" + std::string(64, 'c');
  ASSERT_TRUE(repo_->Insert(other).ok());
  absl::StatusOr<std::vector<ContainerRecord>> all = repo_->List();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "new");
  EXPECT_EQ((*all)[1].name, "other");
  EXPECT_EQ((*all)[2].name, "old");

  absl::StatusOr<int64_t> n = repo_->CountUsingImage("sha256:" + std::string(64, 'b'));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  ASSERT_TRUE(repo_->Delete((*all)[0].id).ok());
  n = repo_->CountUsingImage("sha256:" + std::string(64, 'b'));
  EXPECT_EQ(*n, 1);
}

TEST_F(ContainerRepoTest, InvalidStateIsRefused) {
  ContainerRecord c = Make("aa", "x", 1);
  c.state = "flying";
  EXPECT_FALSE(repo_->Insert(c).ok());
}

}  // namespace
}  // namespace kapsel::store
