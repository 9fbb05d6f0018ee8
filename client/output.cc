#include "client/output.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace kapsel::client {
namespace {

constexpr size_t kMinColumnWidth = 10;
constexpr size_t kColumnPadding = 3;
constexpr size_t kCommandWidth = 20;

// `value` with `precision` significant digits in units of `base`, like go-units' CustomSize
// ("%.4g%s").
std::string ScaledSize(double value, double base, const std::vector<absl::string_view>& units,
                       int precision) {
  size_t i = 0;
  while (value >= base && i + 1 < units.size()) {
    value /= base;
    ++i;
  }
  return absl::StrFormat("%.*g%s", precision, value, units[i]);
}

}  // namespace

std::string ShortId(absl::string_view id) {
  absl::ConsumePrefix(&id, "sha256:");
  return std::string(id.substr(0, 12));
}

std::string HumanDuration(absl::Duration d) {
  int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return absl::StrCat(seconds, " seconds");
  int64_t minutes = absl::ToInt64Minutes(d);
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return absl::StrCat(minutes, " minutes");
  int64_t hours = static_cast<int64_t>(std::round(absl::ToDoubleHours(d)));
  if (hours == 1) return "About an hour";
  if (hours < 48) return absl::StrCat(hours, " hours");
  if (hours < 24 * 7 * 2) return absl::StrCat(hours / 24, " days");
  if (hours < 24 * 30 * 2) return absl::StrCat(hours / 24 / 7, " weeks");
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24 / 30, " months");
  return absl::StrCat(static_cast<int64_t>(absl::ToDoubleHours(d) / 24 / 365), " years");
}

std::string TimeAgo(int64_t unix_nanos, absl::Time now) {
  if (unix_nanos == 0) return "";
  return absl::StrCat(HumanDuration(now - absl::FromUnixNanos(unix_nanos)), " ago");
}

std::string HumanSize(int64_t bytes) {
  static const std::vector<absl::string_view> kUnits = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  return ScaledSize(static_cast<double>(std::max<int64_t>(bytes, 0)), 1000.0, kUnits, 3);
}

std::string BinarySize(int64_t bytes) {
  static const std::vector<absl::string_view> kUnits = {"B",   "KiB", "MiB", "GiB",
                                                        "TiB", "PiB", "EiB"};
  return ScaledSize(static_cast<double>(std::max<int64_t>(bytes, 0)), 1024.0, kUnits, 4);
}

std::string StateName(kapsel::v1::ContainerState state) {
  switch (state) {
    case kapsel::v1::CONTAINER_STATE_CREATED:
      return "created";
    case kapsel::v1::CONTAINER_STATE_RUNNING:
      return "running";
    case kapsel::v1::CONTAINER_STATE_PAUSED:
      return "paused";
    case kapsel::v1::CONTAINER_STATE_EXITED:
      return "exited";
    case kapsel::v1::CONTAINER_STATE_REMOVING:
      return "removing";
    default:
      return "unknown";
  }
}

std::string StatusText(const kapsel::v1::ContainerStatus& status, absl::Time now) {
  auto since = [&](int64_t unix_nanos) {
    return HumanDuration(now - absl::FromUnixNanos(unix_nanos));
  };
  switch (status.state()) {
    case kapsel::v1::CONTAINER_STATE_CREATED:
      return "Created";
    case kapsel::v1::CONTAINER_STATE_RUNNING:
      return absl::StrCat("Up ", since(status.started_at_unix_nanos()));
    case kapsel::v1::CONTAINER_STATE_PAUSED:
      return absl::StrCat("Up ", since(status.started_at_unix_nanos()), " (Paused)");
    case kapsel::v1::CONTAINER_STATE_EXITED: {
      std::string text =
          absl::StrCat("Exited (", ExitCodeOf(status.exit_code(), status.exit_signal()), ")");
      if (status.finished_at_unix_nanos() != 0) {
        absl::StrAppend(&text, " ", since(status.finished_at_unix_nanos()), " ago");
      }
      return text;
    }
    case kapsel::v1::CONTAINER_STATE_REMOVING:
      return "Removal In Progress";
    default:
      return "Unknown";
  }
}

int ExitCodeOf(int exit_code, int signal) {
  if (exit_code == 0 && signal > 0) return 128 + signal;
  return exit_code;
}

std::string FormatRfc3339(int64_t unix_nanos) {
  if (unix_nanos == 0) return "";
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", absl::FromUnixNanos(unix_nanos),
                          absl::UTCTimeZone());
}

std::string FormatRfc3339Nano(int64_t unix_nanos) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E9SZ", absl::FromUnixNanos(unix_nanos),
                          absl::UTCTimeZone());
}

size_t DisplayWidth(absl::string_view s) {
  return std::count_if(s.begin(), s.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

std::string Ellipsis(absl::string_view s, size_t max_width) {
  if (DisplayWidth(s) <= max_width) return std::string(s);
  if (max_width == 0) return "";
  // Keep max_width - 1 code points, then the ellipsis.
  size_t kept = 0;
  size_t end = 0;
  for (; end < s.size(); ++end) {
    if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80) {
      if (kept == max_width - 1) break;
      ++kept;
    }
  }
  return absl::StrCat(s.substr(0, end), "…");
}

std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string CommandText(const std::vector<std::string>& argv, bool no_trunc) {
  std::string command = absl::StrJoin(argv, " ");
  if (!no_trunc) command = Ellipsis(command, kCommandWidth);
  return Quote(command);
}

std::pair<std::string, std::string> SplitRepoTag(absl::string_view ref) {
  size_t colon = ref.rfind(':');
  size_t slash = ref.rfind('/');
  if (colon == absl::string_view::npos || (slash != absl::string_view::npos && colon < slash)) {
    return {std::string(ref), ""};
  }
  return {std::string(ref.substr(0, colon)), std::string(ref.substr(colon + 1))};
}

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

std::string Table::Render() const {
  size_t columns = 0;
  for (const auto& row : rows_) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]) + kColumnPadding);
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) {
        size_t width = std::max(widths[i], kMinColumnWidth);
        out.append(width - DisplayWidth(row[i]), ' ');
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace kapsel::client
