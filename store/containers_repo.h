#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/database.h"

namespace kapsel::store {

// One row of the containers table. Runtime state (pid, exit status) lives beside the accepted
// spec, which the engine treats as immutable.
struct ContainerRecord {
  std::string id;            // 64 hex
  std::string name;          // unique
  std::string image_ref;     // as given by the user
  std::string image_id;      // sha256:<hex>
  std::string state;         // "created" | "running" | "paused" | "exited" | "removing"
  std::string spec_json;     // opaque JSON text owned by the engine
  std::string command_json;  // opaque JSON text owned by the engine
  int pid = 0;               // host pid of the container init
  int shim_pid = 0;
  uint64_t shim_start_time = 0;  // /proc/<pid>/stat field 22 (clock ticks), rules out pid reuse
  int exit_code = 0;
  int exit_signal = 0;
  bool oom_killed = false;
  std::string error;
  int64_t created_at = 0, started_at = 0, finished_at = 0;  // unix nanoseconds
  int restart_count = 0;         // restarts by the restart policy since the last manual start
  bool stopped_by_user = false;  // stop (or rm -f): the restart policy leaves it down
};

// Container rows. Does not own `db`, which must outlive it. Thread-safe (through Database).
class ContainerRepo {
 public:
  explicit ContainerRepo(Database* db) : db_(db) {}

  // AlreadyExists `container name "x" is already in use by <id12>` for a taken name.
  absl::Status Insert(const ContainerRecord& c);
  // Replaces every column of the row with c.id; NotFound if absent.
  absl::Status Update(const ContainerRecord& c);
  // NotFound `no such container: <id>`.
  absl::StatusOr<ContainerRecord> Get(const std::string& id);
  // Exact id, exact name, or a unique id prefix. NotFound `no such container: <ref>`;
  // InvalidArgument `container id prefix "<ref>" is ambiguous` when several ids match.
  absl::StatusOr<ContainerRecord> Resolve(const std::string& ref);
  // Newest first.
  absl::StatusOr<std::vector<ContainerRecord>> List();
  // NotFound `no such container: <id>` if absent.
  absl::Status Delete(const std::string& id);
  absl::StatusOr<int64_t> CountUsingImage(const std::string& image_id);

 private:
  absl::StatusOr<std::vector<ContainerRecord>> Query(absl::string_view where,
                                                     const std::string& arg, int limit);
  Database* db_;
};

}  // namespace kapsel::store
