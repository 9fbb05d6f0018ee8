#include "store/events_repo.h"

#include <time.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace kapsel::store {
namespace {

int64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

absl::StatusOr<uint64_t> EventRepo::Append(EventRecord& e) {
  if (e.time == 0) e.time = NowNanos();
  nlohmann::json attributes(e.attributes);
  // RETURNING keeps the insert and the sequence read in one statement, under one lock.
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "INSERT INTO events (time, type, container_id, image_id, attributes_json)"
      " VALUES (?, ?, ?, ?, ?) RETURNING sequence");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, e.time)
      .Bind(2, e.type)
      .Bind(3, e.container_id)
      .Bind(4, e.image_id)
      .Bind(5, attributes.dump());
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("insert event: no sequence returned");
  e.sequence = static_cast<uint64_t>(stmt->ColumnInt64(0));
  absl::Status status = stmt->Run();
  if (!status.ok()) return status;
  return e.sequence;
}

absl::StatusOr<std::vector<EventRecord>> EventRepo::Since(uint64_t after_sequence, size_t limit) {
  absl::StatusOr<Statement> stmt = db_->Prepare(
      "SELECT sequence, time, type, container_id, image_id, attributes_json FROM events"
      " WHERE sequence > ? ORDER BY sequence LIMIT ?");
  if (!stmt.ok()) return stmt.status();
  int64_t max_limit = std::numeric_limits<int64_t>::max();
  stmt->Bind(1, static_cast<int64_t>(after_sequence))
      .Bind(2, limit > static_cast<size_t>(max_limit) ? max_limit : static_cast<int64_t>(limit));
  std::vector<EventRecord> out;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    EventRecord e;
    e.sequence = static_cast<uint64_t>(stmt->ColumnInt64(0));
    e.time = stmt->ColumnInt64(1);
    e.type = stmt->ColumnText(2);
    e.container_id = stmt->ColumnText(3);
    e.image_id = stmt->ColumnText(4);
    nlohmann::json attributes =
        nlohmann::json::parse(stmt->ColumnText(5), nullptr, /*allow_exceptions=*/false);
    if (!attributes.is_object()) {
      return absl::DataLossError(
          absl::StrCat("event ", e.sequence, ": attributes are not a JSON object"));
    }
    for (const auto& [key, value] : attributes.items()) {
      if (value.is_string()) e.attributes[key] = value.get<std::string>();
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<uint64_t> EventRepo::LastSequence() {
  absl::StatusOr<Statement> stmt = db_->Prepare("SELECT COALESCE(MAX(sequence), 0) FROM events");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<uint64_t>(stmt->ColumnInt64(0)) : 0;
}

}  // namespace kapsel::store
