#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/database.h"

namespace kapsel::store {

// One bind mount added to a running container (AddMount). The row goes with its container (ON
// DELETE CASCADE).
struct MountRecord {
  std::string container_id;    // 64 hex
  std::string container_path;  // absolute, normalized; one mount per path and container
  std::string host_path;       // absolute
  bool read_only = false;
  bool recursive = false;
  std::string propagation;  // private | rprivate | slave | rslave
  int64_t created_at = 0;   // unix nanoseconds
};

// The container_mounts table. Does not own `db`, which must outlive it. Thread-safe (through
// Database); cheap to construct.
class MountRepo {
 public:
  explicit MountRepo(Database* db) : db_(db) {}

  // AlreadyExists `<path> is already mounted in container <id12>`; FailedPrecondition when the
  // container row does not exist.
  absl::Status Insert(const MountRecord& m);
  // NotFound `no mount added at <path> in container <id12>`.
  absl::StatusOr<MountRecord> Get(const std::string& container_id,
                                  const std::string& container_path);
  // NotFound as Get when absent.
  absl::Status Delete(const std::string& container_id, const std::string& container_path);
  // In the order they were added.
  absl::StatusOr<std::vector<MountRecord>> List(const std::string& container_id);

 private:
  Database* db_;
};

}  // namespace kapsel::store
