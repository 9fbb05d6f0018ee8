#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kapsel/v1/containers.pb.h"

// Terminal formatting shared by the commands, docker-like. Pure functions of their inputs; the
// current time is a parameter so the output is testable.
namespace kapsel::client {

// The first 12 hex digits of an id, without a "sha256:" prefix.
std::string ShortId(absl::string_view id);

// docker's HumanDuration: "Less than a second", "1 second", "3 seconds", "About a minute",
// "5 minutes", "About an hour", "2 hours", "3 days", "2 weeks", "4 months", "2 years".
std::string HumanDuration(absl::Duration d);

// "<duration> ago" since `unix_nanos`; "" when the time is unset (0).
std::string TimeAgo(int64_t unix_nanos, absl::Time now);

// Decimal units, three significant digits, like `docker images`: "512B", "4.2MB", "1.23GB".
std::string HumanSize(int64_t bytes);
// Binary units, like `docker info`: "512B", "1KiB", "15.5GiB".
std::string BinarySize(int64_t bytes);

// created, running, paused, exited, removing; "unknown" for an unset state.
std::string StateName(kapsel::v1::ContainerState state);

// The STATUS column: "Created", "Up 3 seconds", "Up 2 hours (Paused)",
// "Exited (3) 5 minutes ago", "Removal In Progress".
std::string StatusText(const kapsel::v1::ContainerStatus& status, absl::Time now);

// The exit code kapselctl reports for an exit status: the code, or 128 + signal when the process
// was killed by a signal and no code is set.
int ExitCodeOf(int exit_code, int signal);

// RFC 3339 in UTC with second precision ("2024-05-01T10:00:00Z"); "" when unset (0).
std::string FormatRfc3339(int64_t unix_nanos);
// RFC 3339 in UTC with nanoseconds, for logs and events.
std::string FormatRfc3339Nano(int64_t unix_nanos);

// Display width in terminal columns: UTF-8 code points.
size_t DisplayWidth(absl::string_view s);
// `s` cut to `max_width` code points, the last one replaced by "…" when cut.
std::string Ellipsis(absl::string_view s, size_t max_width);
// Go's strconv.Quote for printable text: double quotes, with '"', '\\' and control characters
// escaped.
std::string Quote(absl::string_view s);
// The COMMAND column: the argv joined by spaces, cut to 20 columns unless `no_trunc`, quoted.
std::string CommandText(const std::vector<std::string>& argv, bool no_trunc);

// "name:tag" split at the tag's colon (a registry port's colon stays in the name).
std::pair<std::string, std::string> SplitRepoTag(absl::string_view ref);

// Aligned columns like docker's tabwriter (minimum width 10, padding 3): every column but the last
// is padded to its widest cell plus three spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> header);

  void AddRow(std::vector<std::string> row);
  // The header and the rows, each line ending in '\n'.
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace kapsel::client
