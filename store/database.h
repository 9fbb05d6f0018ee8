#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace kapsel::store {

class Database;

// One prepared statement. Holds the owning Database's mutex from Prepare until destruction, so a
// statement's binds, steps and column reads are atomic with respect to other threads. Move-only.
// Bind calls record the first error; Step and Run return it.
class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in sqlite3_bind_*.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, absl::string_view value);
  Statement& Bind(int index, const std::string& value) {
    return Bind(index, absl::string_view(value));
  }
  Statement& Bind(int index, const char* value) { return Bind(index, absl::string_view(value)); }

  // Advances one row: true when a row is available, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Steps until done, discarding rows.
  absl::Status Run();

  // Columns are 0-based, as in sqlite3_column_*.
  int64_t ColumnInt64(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Database;
  struct StmtDeleter {
    void operator()(sqlite3_stmt* stmt) const;
  };
  Statement(Database* db, std::unique_lock<std::recursive_mutex> lock, sqlite3_stmt* stmt,
            std::string sql);

  // Declared first so it is released last, after the statement is finalized.
  std::unique_lock<std::recursive_mutex> lock_;
  Database* db_ = nullptr;
  std::unique_ptr<sqlite3_stmt, StmtDeleter> stmt_;
  std::string sql_;
  absl::Status bind_status_;
};

// Owns one sqlite3 connection in WAL mode, foreign_keys=ON, busy_timeout 5000,
// synchronous=NORMAL.
//
// Thread-safe: every statement and every InTransaction call holds an internal
// std::recursive_mutex, so repository calls made inside an InTransaction callback on the same
// thread nest.
class Database {
 public:
  // Opens (creating) the file and applies the numbered migrations of store/migrations.cc.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more statements that return no rows of interest.
  absl::Status Exec(const std::string& sql);

  // BEGIN IMMEDIATE; fn(); COMMIT — or ROLLBACK if fn returns an error, which is returned.
  // A nested call on the same thread runs fn inside the outer transaction, under a SAVEPOINT:
  // when the inner fn fails only its own changes are undone and its error is returned.
  absl::Status InTransaction(const std::function<absl::Status()>& fn);

  // The highest applied migration version, 0 for none.
  int SchemaVersion();

  // Prepares `sql`; the returned statement holds this database's lock until destroyed.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  const std::string& path() const { return path_; }

 private:
  friend class Statement;
  struct ConnDeleter {
    void operator()(sqlite3* db) const;
  };
  Database(std::string path, sqlite3* conn);
  absl::Status Migrate();
  // A Status for a failed sqlite call: the call, the SQL (or path) and sqlite's message.
  absl::Status SqliteError(int rc, absl::string_view what) const;

  std::string path_;
  std::recursive_mutex mu_;
  std::unique_ptr<sqlite3, ConnDeleter> conn_;
  int tx_depth_ = 0;  // guarded by mu_
};

// The first column of every row of `sql`, as text; `arg`, when given, is bound to its one
// parameter.
absl::StatusOr<std::vector<std::string>> QueryColumn(Database* db, absl::string_view sql,
                                                     const std::string* arg = nullptr);

}  // namespace kapsel::store
