#include "daemon/log_format.h"

#include <time.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kapsel::logs {

int64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string FormatTime(int64_t unix_nanos) {
  time_t secs = static_cast<time_t>(unix_nanos / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         static_cast<int>(unix_nanos % 1000000000));
}

void FormatChunk(int64_t time, Stream stream, absl::string_view chunk, std::string* out) {
  const std::string prefix =
      absl::StrCat(FormatTime(time), stream == Stream::kStdout ? " stdout " : " stderr ");
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    if (nl == absl::string_view::npos) {
      absl::StrAppend(out, prefix, "P ", chunk, "\n");
      return;
    }
    absl::StrAppend(out, prefix, "F ", chunk.substr(0, nl), "\n");
    chunk.remove_prefix(nl + 1);
  }
}

bool ParseLine(absl::string_view line, Record* record) {
  // 2026-11-30T08:12:35.123456789Z stdout F data
  if (line.size() < 31 + 9 || line[30] != ' ') return false;
  absl::string_view ts = line.substr(0, 30);
  struct tm tm = {};
  int nanos = 0;
  if (sscanf(std::string(ts).c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%9dZ", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &nanos) != 7) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  record->time = int64_t{timegm(&tm)} * 1000000000 + nanos;
  absl::string_view rest = line.substr(31);
  if (rest.substr(0, 7) == "stdout ") {
    record->stream = Stream::kStdout;
  } else if (rest.substr(0, 7) == "stderr ") {
    record->stream = Stream::kStderr;
  } else {
    return false;
  }
  rest.remove_prefix(7);
  if (rest.size() < 2 || rest[1] != ' ' || (rest[0] != 'F' && rest[0] != 'P')) return false;
  bool full = rest[0] == 'F';
  record->data = std::string(rest.substr(2));
  if (full) record->data.push_back('\n');
  return true;
}

}  // namespace kapsel::logs
