#pragma once

// kapseld's log output, behind spdlog's default logger: text or JSON lines on stderr, or the
// systemd journal with structured fields when stderr is the journal (systemd.h). The format can
// change while the daemon runs (SIGHUP reload).
//
// spdlog 1.10's own systemd_sink sends MESSAGE, PRIORITY and SYSLOG_IDENTIFIER only, so kapseld
// has its own sink: it adds the fields of the request being served on the calling thread
// (KAPSEL_METHOD, KAPSEL_PEER_UID, KAPSEL_PEER_PID), set by the request interceptor
// (request_log.h). Container ids are in the message text.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "spdlog/common.h"

namespace kapsel::daemon::logging {

enum class Output { kText, kJson, kJournal };

using Fields = std::vector<std::pair<std::string, std::string>>;

// Installs kapseld's logger as spdlog's default on the first call; later calls switch its output.
// Thread-safe.
void Configure(Output output, spdlog::level::level_enum level);

// The fields of the request this thread serves, added to its records until cleared. Keys are
// lower-case snake_case ("method", "peer_uid"); the journal gets them as KAPSEL_<KEY>.
void SetRequestFields(Fields fields);
void ClearRequestFields();

// One JSON object without the trailing newline: {"time":..., "level":..., "msg":..., fields...}.
// `time` is RFC 3339 UTC with milliseconds. Public for tests.
std::string FormatJsonRecord(const std::string& time, absl::string_view level,
                             absl::string_view msg, const Fields& fields);

}  // namespace kapsel::daemon::logging
