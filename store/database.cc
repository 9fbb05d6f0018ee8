#include "store/database.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "store/migrations.h"

namespace kapsel::store {
namespace {

// Keeps error messages short: the first line of the SQL, cut at 80 characters.
std::string SqlSnippet(absl::string_view sql) {
  absl::string_view s = sql.substr(0, sql.find('\n'));
  if (s.size() > 80) return absl::StrCat(s.substr(0, 80), "...");
  return std::string(s);
}

absl::StatusCode CodeFor(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kNotFound;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    default:
      break;
  }
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return absl::StatusCode::kFailedPrecondition;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

}  // namespace

void Statement::StmtDeleter::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

Statement::Statement(Database* db, std::unique_lock<std::recursive_mutex> lock, sqlite3_stmt* stmt,
                     std::string sql)
    : lock_(std::move(lock)), db_(db), stmt_(stmt), sql_(std::move(sql)) {}

Statement::Statement(Statement&&) noexcept = default;

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    // Finalize our statement before giving up our lock.
    stmt_ = std::move(other.stmt_);
    lock_ = std::move(other.lock_);
    db_ = other.db_;
    sql_ = std::move(other.sql_);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { stmt_.reset(); }

Statement& Statement::Bind(int index, int64_t value) {
  if (!bind_status_.ok()) return *this;
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK) bind_status_ = db_->SqliteError(rc, absl::StrCat("bind ", sql_));
  return *this;
}

Statement& Statement::Bind(int index, absl::string_view value) {
  if (!bind_status_.ok()) return *this;
  int rc = sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) bind_status_ = db_->SqliteError(rc, absl::StrCat("bind ", sql_));
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->SqliteError(rc, absl::StrCat("step ", sql_));
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

int64_t Statement::ColumnInt64(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), column);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), column)));
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

void Database::ConnDeleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

Database::Database(std::string path, sqlite3* conn) : path_(std::move(path)), conn_(conn) {}

Database::~Database() = default;

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; it must still be closed.
  std::unique_ptr<sqlite3, ConnDeleter> conn(raw);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return absl::Status(CodeFor(rc), absl::StrCat("sqlite open ", path, ": ", msg));
  }
  sqlite3_extended_result_codes(conn.get(), 1);
  auto db = std::unique_ptr<Database>(new Database(path, conn.release()));
  // journal_mode returns a row; Exec discards it. WAL must be set outside a transaction.
  absl::Status status = db->Exec(
      "PRAGMA journal_mode=WAL;"
      "PRAGMA foreign_keys=ON;"
      "PRAGMA busy_timeout=5000;"
      "PRAGMA synchronous=NORMAL;");
  if (!status.ok()) return status;
  status = db->Migrate();
  if (!status.ok()) return status;
  return db;
}

absl::Status Database::SqliteError(int rc, absl::string_view what) const {
  const char* msg = conn_ != nullptr ? sqlite3_errmsg(conn_.get()) : sqlite3_errstr(rc);
  return absl::Status(CodeFor(rc), absl::StrCat("sqlite ", SqlSnippet(what), ": ", msg));
}

absl::Status Database::Exec(const std::string& sql) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  char* err = nullptr;
  int rc = sqlite3_exec(conn_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return absl::Status(CodeFor(sqlite3_extended_errcode(conn_.get())),
                      absl::StrCat("sqlite exec ", SqlSnippet(sql), ": ", msg));
}

absl::StatusOr<Statement> Database::Prepare(absl::string_view sql) {
  std::unique_lock<std::recursive_mutex> lock(mu_);
  sqlite3_stmt* stmt = nullptr;
  int rc =
      sqlite3_prepare_v2(conn_.get(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteError(rc, absl::StrCat("prepare ", sql));
  }
  return Statement(this, std::move(lock), stmt, std::string(sql));
}

absl::Status Database::InTransaction(const std::function<absl::Status()>& fn) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (tx_depth_ > 0) {
    std::string savepoint = absl::StrCat("sp", tx_depth_);
    absl::Status status = Exec(absl::StrCat("SAVEPOINT ", savepoint));
    if (!status.ok()) return status;
    ++tx_depth_;
    status = fn();
    --tx_depth_;
    if (!status.ok()) {
      // ROLLBACK TO keeps the savepoint on the stack; RELEASE pops it.
      Exec(absl::StrCat("ROLLBACK TO ", savepoint, "; RELEASE ", savepoint)).IgnoreError();
      return status;
    }
    return Exec(absl::StrCat("RELEASE ", savepoint));
  }
  absl::Status status = Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  tx_depth_ = 1;
  status = fn();
  tx_depth_ = 0;
  if (status.ok()) {
    status = Exec("COMMIT");
    if (status.ok()) return status;
  }
  // After a failed COMMIT the transaction may already be gone; ignore that error.
  if (sqlite3_get_autocommit(conn_.get()) == 0) Exec("ROLLBACK").IgnoreError();
  return status;
}

int Database::SchemaVersion() {
  absl::StatusOr<Statement> stmt =
      Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!stmt.ok()) return 0;
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok() || !*row) return 0;
  return static_cast<int>(stmt->ColumnInt64(0));
}

absl::Status Database::Migrate() {
  absl::Status status = Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY,"
      " applied_at INTEGER NOT NULL)");
  if (!status.ok()) return status;
  for (const Migration& m : Migrations()) {
    status = InTransaction([&]() -> absl::Status {
      // Re-read inside the write lock so two processes opening the file at once apply each
      // migration once.
      if (SchemaVersion() >= m.version) return absl::OkStatus();
      absl::Status s = Exec(m.sql);
      if (!s.ok()) return s;
      absl::StatusOr<Statement> insert = Prepare(
          "INSERT INTO schema_migrations(version, applied_at)"
          " VALUES (?, CAST(strftime('%s','now') AS INTEGER))");
      if (!insert.ok()) return insert.status();
      return insert->Bind(1, static_cast<int64_t>(m.version)).Run();
    });
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migration ", m.version, " of ", path_, ": ",
                                                      status.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> QueryColumn(Database* db, absl::string_view sql,
                                                     const std::string* arg) {
  absl::StatusOr<Statement> stmt = db->Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  if (arg != nullptr) stmt->Bind(1, *arg);
  std::vector<std::string> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(stmt->ColumnText(0));
  }
  return out;
}

}  // namespace kapsel::store
