#include "store/mounts_repo.h"

#include "absl/strings/str_cat.h"

namespace kapsel::store {
namespace {

constexpr absl::string_view kColumns =
    "container_id, container_path, host_path, read_only, recursive, propagation, created_at";

MountRecord ReadRow(const Statement& s) {
  MountRecord m;
  m.container_id = s.ColumnText(0);
  m.container_path = s.ColumnText(1);
  m.host_path = s.ColumnText(2);
  m.read_only = s.ColumnInt64(3) != 0;
  m.recursive = s.ColumnInt64(4) != 0;
  m.propagation = s.ColumnText(5);
  m.created_at = s.ColumnInt64(6);
  return m;
}

absl::Status NoSuchMount(const std::string& container_id, const std::string& path) {
  return absl::NotFoundError(
      absl::StrCat("no mount added at ", path, " in container ", container_id.substr(0, 12)));
}

}  // namespace

absl::Status MountRepo::Insert(const MountRecord& m) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      absl::StrCat("INSERT INTO container_mounts (", kColumns, ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, m.container_id)
      .Bind(2, m.container_path)
      .Bind(3, m.host_path)
      .Bind(4, static_cast<int64_t>(m.read_only ? 1 : 0))
      .Bind(5, static_cast<int64_t>(m.recursive ? 1 : 0))
      .Bind(6, m.propagation)
      .Bind(7, m.created_at);
  absl::Status status = stmt->Run();
  if (absl::IsAlreadyExists(status)) {
    return absl::AlreadyExistsError(absl::StrCat(
        m.container_path, " is already mounted in container ", m.container_id.substr(0, 12)));
  }
  return status;
}

absl::StatusOr<MountRecord> MountRepo::Get(const std::string& container_id,
                                           const std::string& container_path) {
  absl::StatusOr<Statement> stmt =
      db_->Prepare(absl::StrCat("SELECT ", kColumns,
                                " FROM container_mounts WHERE container_id = ? AND "
                                "container_path = ?"));
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, container_id).Bind(2, container_path).Step();
  if (!row.ok()) return row.status();
  if (!*row) return NoSuchMount(container_id, container_path);
  return ReadRow(*stmt);
}

absl::Status MountRepo::Delete(const std::string& container_id, const std::string& container_path) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "DELETE FROM container_mounts WHERE container_id = ? AND container_path = ? "
      "RETURNING container_id");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, container_id).Bind(2, container_path).Step();
  if (!row.ok()) return row.status();
  if (!*row) return NoSuchMount(container_id, container_path);
  return stmt->Run();
}

absl::StatusOr<std::vector<MountRecord>> MountRepo::List(const std::string& container_id) {
  absl::StatusOr<Statement> stmt = db_->Prepare(absl::StrCat(
      "SELECT ", kColumns, " FROM container_mounts WHERE container_id = ? ORDER BY rowid"));
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, container_id);
  std::vector<MountRecord> out;
  for (;;) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ReadRow(*stmt));
  }
  return out;
}

}  // namespace kapsel::store
