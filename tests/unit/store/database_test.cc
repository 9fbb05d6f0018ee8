#include "store/database.h"

#include <memory>

#include "gtest/gtest.h"
#include "store/migrations.h"
#include "tests/unit/store/test_util.h"

namespace kapsel::store {
namespace {

using testing::CountRows;
using testing::TempDir;

TEST(DatabaseTest, MigrationsApplyOnceAndVersionSurvivesReopen) {
  TempDir dir;
  const int latest = Migrations().back().version;
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->SchemaVersion(), latest);
    EXPECT_EQ(CountRows(**db, "schema_migrations"), static_cast<int64_t>(Migrations().size()));
  }
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->SchemaVersion(), latest);
  EXPECT_EQ(CountRows(**db, "schema_migrations"), static_cast<int64_t>(Migrations().size()));
}

TEST(DatabaseTest, WalModeAndForeignKeysAreOn) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  {
    absl::StatusOr<Statement> stmt = (*db)->Prepare("PRAGMA journal_mode");
    ASSERT_TRUE(stmt.ok()) << stmt.status();
    ASSERT_TRUE(*stmt->Step());
    EXPECT_EQ(stmt->ColumnText(0), "wal");
  }
  absl::StatusOr<Statement> stmt = (*db)->Prepare("PRAGMA foreign_keys");
  ASSERT_TRUE(stmt.ok()) << stmt.status();
  ASSERT_TRUE(*stmt->Step());
  EXPECT_EQ(stmt->ColumnInt64(0), 1);
}

TEST(DatabaseTest, OpenInMissingDirectoryFails) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("no/such/kapsel.db"));
  EXPECT_FALSE(db.ok());
}

TEST(DatabaseTest, TransactionRollbackLeavesNoRows) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  absl::Status status = (*db)->InTransaction([&]() -> absl::Status {
    absl::Status s = (*db)->Exec(
        "INSERT INTO events (time, type) VALUES (1, 'create'); "
        "INSERT INTO images (id, config_json, created_at, size_bytes) VALUES ('x', '{}', 1, 0)");
    if (!s.ok()) return s;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_TRUE(absl::IsAborted(status)) << status;
  EXPECT_EQ(CountRows(**db, "events"), 0);
  EXPECT_EQ(CountRows(**db, "images"), 0);

  ASSERT_TRUE((*db)
                  ->InTransaction([&] {
                    return (*db)->Exec("INSERT INTO events (time, type) VALUES (1, 'start')");
                  })
                  .ok());
  EXPECT_EQ(CountRows(**db, "events"), 1);
}

TEST(DatabaseTest, NestedTransactionsNestAndInnerFailureIsContained) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  Database& d = **db;
  absl::Status status = d.InTransaction([&]() -> absl::Status {
    absl::Status s = d.Exec("INSERT INTO events (time, type) VALUES (1, 'outer')");
    if (!s.ok()) return s;
    absl::Status inner = d.InTransaction([&]() -> absl::Status {
      absl::Status s2 = d.Exec("INSERT INTO events (time, type) VALUES (2, 'inner')");
      if (!s2.ok()) return s2;
      return absl::InternalError("inner failure");
    });
    EXPECT_FALSE(inner.ok());
    return d.InTransaction(
        [&] { return d.Exec("INSERT INTO events (time, type) VALUES (3, 'inner ok')"); });
  });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(CountRows(d, "events"), 2);
}

TEST(DatabaseTest, BadSqlNamesTheStatement) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(dir.Sub("kapsel.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<Statement> stmt = (*db)->Prepare("SELECT nope FROM nothing");
  ASSERT_FALSE(stmt.ok());
  EXPECT_NE(stmt.status().message().find("nothing"), absl::string_view::npos) << stmt.status();
}

}  // namespace
}  // namespace kapsel::store
