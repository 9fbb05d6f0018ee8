#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/database.h"

namespace kapsel::store {

struct EventRecord {
  uint64_t sequence = 0;  // assigned by Append, monotonic and gap-free
  int64_t time = 0;       // unix nanoseconds, set by Append when 0
  std::string type, container_id, image_id;
  std::map<std::string, std::string> attributes;  // stored as JSON
};

// The stored event log. Does not own `db`. Thread-safe (through Database). Call Append inside
// the transaction that makes the change it reports, so both land or neither does.
class EventRepo {
 public:
  explicit EventRepo(Database* db) : db_(db) {}

  // Fills e.sequence and, when 0, e.time; returns the sequence.
  absl::StatusOr<uint64_t> Append(EventRecord& e);
  // Events with sequence > after_sequence, oldest first, at most `limit`.
  absl::StatusOr<std::vector<EventRecord>> Since(uint64_t after_sequence, size_t limit);
  // 0 when the log is empty.
  absl::StatusOr<uint64_t> LastSequence();

 private:
  Database* db_;
};

}  // namespace kapsel::store
