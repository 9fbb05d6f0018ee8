#include "store/containers_repo.h"

#include "absl/strings/str_cat.h"
#include "store/digest.h"

namespace kapsel::store {
namespace {

constexpr absl::string_view kColumns =
    "id, name, image_ref, image_id, state, spec_json, command_json, pid, shim_pid, "
    "shim_start_time, exit_code, exit_signal, oom_killed, error, created_at, started_at, "
    "finished_at, restart_count, stopped_by_user";

// Binds every column after id, starting at parameter `first`, in kColumns order.
void BindFields(Statement& stmt, const ContainerRecord& c, int first) {
  stmt.Bind(first + 0, c.name)
      .Bind(first + 1, c.image_ref)
      .Bind(first + 2, c.image_id)
      .Bind(first + 3, c.state)
      .Bind(first + 4, c.spec_json)
      .Bind(first + 5, c.command_json)
      .Bind(first + 6, static_cast<int64_t>(c.pid))
      .Bind(first + 7, static_cast<int64_t>(c.shim_pid))
      .Bind(first + 8, static_cast<int64_t>(c.shim_start_time))
      .Bind(first + 9, static_cast<int64_t>(c.exit_code))
      .Bind(first + 10, static_cast<int64_t>(c.exit_signal))
      .Bind(first + 11, static_cast<int64_t>(c.oom_killed ? 1 : 0))
      .Bind(first + 12, c.error)
      .Bind(first + 13, c.created_at)
      .Bind(first + 14, c.started_at)
      .Bind(first + 15, c.finished_at)
      .Bind(first + 16, static_cast<int64_t>(c.restart_count))
      .Bind(first + 17, static_cast<int64_t>(c.stopped_by_user ? 1 : 0));
}

ContainerRecord ReadRow(const Statement& s) {
  ContainerRecord c;
  c.id = s.ColumnText(0);
  c.name = s.ColumnText(1);
  c.image_ref = s.ColumnText(2);
  c.image_id = s.ColumnText(3);
  c.state = s.ColumnText(4);
  c.spec_json = s.ColumnText(5);
  c.command_json = s.ColumnText(6);
  c.pid = static_cast<int>(s.ColumnInt64(7));
  c.shim_pid = static_cast<int>(s.ColumnInt64(8));
  c.shim_start_time = static_cast<uint64_t>(s.ColumnInt64(9));
  c.exit_code = static_cast<int>(s.ColumnInt64(10));
  c.exit_signal = static_cast<int>(s.ColumnInt64(11));
  c.oom_killed = s.ColumnInt64(12) != 0;
  c.error = s.ColumnText(13);
  c.created_at = s.ColumnInt64(14);
  c.started_at = s.ColumnInt64(15);
  c.finished_at = s.ColumnInt64(16);
  c.restart_count = static_cast<int>(s.ColumnInt64(17));
  c.stopped_by_user = s.ColumnInt64(18) != 0;
  return c;
}

absl::Status NoSuchContainer(absl::string_view ref) {
  return absl::NotFoundError(absl::StrCat("no such container: ", ref));
}

}  // namespace

absl::StatusOr<std::vector<ContainerRecord>> ContainerRepo::Query(absl::string_view where,
                                                                  const std::string& arg,
                                                                  int limit) {
  absl::StatusOr<Statement> stmt =
      db_->Prepare(absl::StrCat("SELECT ", kColumns, " FROM containers ", where,
                                " ORDER BY created_at DESC, rowid DESC LIMIT ", limit));
  if (!stmt.ok()) return stmt.status();
  if (!arg.empty()) stmt->Bind(1, arg);
  std::vector<ContainerRecord> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ReadRow(*stmt));
  }
  return out;
}

absl::Status ContainerRepo::Insert(const ContainerRecord& c) {
  return db_->InTransaction([&]() -> absl::Status {
    absl::StatusOr<std::vector<ContainerRecord>> same_name = Query("WHERE name = ?", c.name, 1);
    if (!same_name.ok()) return same_name.status();
    if (!same_name->empty()) {
      return absl::AlreadyExistsError(absl::StrCat("container name \"", c.name,
                                                   "\" is already in use by ",
                                                   (*same_name)[0].id.substr(0, 12)));
    }
    absl::StatusOr<Statement> stmt = db_->Prepare(
        absl::StrCat("INSERT INTO containers (", kColumns,
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, c.id);
    BindFields(*stmt, c, 2);
    absl::Status status = stmt->Run();
    if (absl::IsAlreadyExists(status)) {
      return absl::AlreadyExistsError(absl::StrCat("container id ", c.id, " already exists"));
    }
    return status;
  });
}

absl::Status ContainerRepo::Update(const ContainerRecord& c) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "UPDATE containers SET name = ?, image_ref = ?, image_id = ?, state = ?, spec_json = ?, "
      "command_json = ?, pid = ?, shim_pid = ?, shim_start_time = ?, exit_code = ?, "
      "exit_signal = ?, oom_killed = ?, error = ?, created_at = ?, started_at = ?, "
      "finished_at = ?, restart_count = ?, stopped_by_user = ? WHERE id = ? RETURNING id");
  if (!stmt.ok()) return stmt.status();
  BindFields(*stmt, c, 1);
  stmt->Bind(19, c.id);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) {
    if (absl::IsAlreadyExists(row.status())) {
      return absl::AlreadyExistsError(
          absl::StrCat("container name \"", c.name, "\" is already in use"));
    }
    return row.status();
  }
  if (!*row) return NoSuchContainer(c.id);
  return stmt->Run();
}

absl::StatusOr<ContainerRecord> ContainerRepo::Get(const std::string& id) {
  absl::StatusOr<std::vector<ContainerRecord>> rows = Query("WHERE id = ?", id, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NoSuchContainer(id);
  return std::move((*rows)[0]);
}

absl::StatusOr<ContainerRecord> ContainerRepo::Resolve(const std::string& ref) {
  if (ref.empty()) return NoSuchContainer(ref);
  absl::StatusOr<std::vector<ContainerRecord>> rows = Query("WHERE id = ?", ref, 1);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) {
    rows = Query("WHERE name = ?", ref, 1);
    if (!rows.ok()) return rows.status();
  }
  if (rows->empty() && IsLowerHex(ref)) {
    // ref is hex only, so it holds no LIKE wildcards.
    rows = Query("WHERE id LIKE ? || '%'", ref, 2);
    if (!rows.ok()) return rows.status();
    if (rows->size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("container id prefix \"", ref, "\" is ambiguous"));
    }
  }
  if (rows->empty()) return NoSuchContainer(ref);
  return std::move((*rows)[0]);
}

absl::StatusOr<std::vector<ContainerRecord>> ContainerRepo::List() { return Query("", "", -1); }

absl::Status ContainerRepo::Delete(const std::string& id) {
  absl::StatusOr<Statement> stmt = db_->Prepare("DELETE FROM containers WHERE id = ? RETURNING id");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, id).Step();
  if (!row.ok()) return row.status();
  if (!*row) return NoSuchContainer(id);
  return stmt->Run();
}

absl::StatusOr<int64_t> ContainerRepo::CountUsingImage(const std::string& image_id) {
  absl::StatusOr<Statement> stmt =
      db_->Prepare("SELECT COUNT(*) FROM containers WHERE image_id = ?");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Bind(1, image_id).Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnInt64(0) : 0;
}

}  // namespace kapsel::store
