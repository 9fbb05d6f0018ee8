#include "store/mounts_repo.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "store/containers_repo.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::TempDir;

class MountRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir_.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    ContainerRepo containers(db_.get());
    for (const std::string& id : {a_, b_}) {
      ContainerRecord c;
      c.id = id;
      c.name = "c" + id.substr(0, 1);
      c.image_ref = "busybox";
      c.image_id = "sha256:" + std::string(64, 'b');
      c.state = "running";
      c.spec_json = "{}";
      c.command_json = R"(["sh"])";
      ASSERT_TRUE(containers.Insert(c).ok());
    }
  }

  MountRecord Make(const std::string& container_id, const std::string& path) {
    MountRecord m;
    m.container_id = container_id;
    m.container_path = path;
    m.host_path = "/srv" + path;
    m.read_only = true;
    m.recursive = false;
    m.propagation = "rprivate";
    m.created_at = 42;
    return m;
  }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  const std::string a_ = std::string(64, 'a');
  const std::string b_ = std::string(64, 'c');
};

TEST_F(MountRepoTest, InsertGetListDelete) {
  MountRepo repo(db_.get());
  ASSERT_TRUE(repo.Insert(Make(a_, "/www")).ok());
  MountRecord second = Make(a_, "/data");
  second.read_only = false;
  second.recursive = true;
  second.propagation = "rslave";
  ASSERT_TRUE(repo.Insert(second).ok());
  ASSERT_TRUE(repo.Insert(Make(b_, "/www")).ok());

  absl::StatusOr<MountRecord> got = repo.Get(a_, "/data");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->host_path, "/srv/data");
  EXPECT_FALSE(got->read_only);
  EXPECT_TRUE(got->recursive);
  EXPECT_EQ(got->propagation, "rslave");
  EXPECT_EQ(got->created_at, 42);

  // In the order added, and only the container's own.
  absl::StatusOr<std::vector<MountRecord>> list = repo.List(a_);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].container_path, "/www");
  EXPECT_TRUE((*list)[0].read_only);
  EXPECT_EQ((*list)[1].container_path, "/data");

  ASSERT_TRUE(repo.Delete(a_, "/www").ok());
  absl::Status again = repo.Delete(a_, "/www");
  EXPECT_TRUE(absl::IsNotFound(again)) << again;
  EXPECT_NE(again.message().find("no mount added at /www"), absl::string_view::npos) << again;
  EXPECT_TRUE(absl::IsNotFound(repo.Get(a_, "/www").status()));
  list = repo.List(a_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE(repo.Get(b_, "/www").ok());
}

TEST_F(MountRepoTest, OnePathOnceAndOnlyForExistingContainers) {
  MountRepo repo(db_.get());
  ASSERT_TRUE(repo.Insert(Make(a_, "/www")).ok());
  absl::Status dup = repo.Insert(Make(a_, "/www"));
  EXPECT_TRUE(absl::IsAlreadyExists(dup)) << dup;
  EXPECT_NE(dup.message().find("/www is already mounted"), absl::string_view::npos) << dup;
  absl::Status orphan = repo.Insert(Make(std::string(64, 'f'), "/www"));
  EXPECT_FALSE(orphan.ok());
}

TEST_F(MountRepoTest, RowsGoWithTheirContainer) {
  MountRepo repo(db_.get());
  ASSERT_TRUE(repo.Insert(Make(a_, "/www")).ok());
  ASSERT_TRUE(repo.Insert(Make(a_, "/data")).ok());
  ASSERT_TRUE(repo.Insert(Make(b_, "/www")).ok());
  ASSERT_TRUE(ContainerRepo(db_.get()).Delete(a_).ok());
  absl::StatusOr<std::vector<MountRecord>> list = repo.List(a_);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_EQ(testing::CountRows(*db_, "container_mounts"), 1);
}

TEST_F(MountRepoTest, RolledBackWithTheTransaction) {
  MountRepo repo(db_.get());
  absl::Status s = db_->InTransaction([&]() -> absl::Status {
    if (auto st = repo.Insert(Make(a_, "/www")); !st.ok()) return st;
    return absl::AbortedError("undo");
  });
  EXPECT_TRUE(absl::IsAborted(s));
  EXPECT_EQ(testing::CountRows(*db_, "container_mounts"), 0);
}

}  // namespace
}  // namespace kapsel::store
