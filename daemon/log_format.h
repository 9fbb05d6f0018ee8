#pragma once

// The container log format, shared by kapsel-shim (writer) and kapseld (reader). It is the CRI
// log format that kubelet and CRI-O use: one record per line,
//   <RFC 3339 time with nanoseconds> <stdout|stderr> <F|P> <bytes up to, not including, '\n'>
// where F marks a full line (a '\n' followed it) and P a partial one.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kapsel::logs {

enum class Stream { kStdout = 1, kStderr = 2 };

struct Record {
  int64_t time = 0;  // unix nanoseconds
  Stream stream = Stream::kStdout;
  std::string data;  // with the '\n' restored for full lines
};

// Formats a chunk of output into records appended to out. Splits at newlines.
void FormatChunk(int64_t time, Stream stream, absl::string_view chunk, std::string* out);

// Parses one line (without its trailing '\n'). Returns false on a malformed line.
bool ParseLine(absl::string_view line, Record* record);

std::string FormatTime(int64_t unix_nanos);
int64_t NowNanos();

}  // namespace kapsel::logs
