#include "daemon/lifecycle_policy.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kapsel::daemon {

bool RestartPolicy::ShouldRestart(int exit_code, int restart_count, bool stopped_by_user) const {
  if (stopped_by_user) return false;
  switch (kind) {
    case Kind::kNo:
      return false;
    case Kind::kOnFailure:
      return exit_code != 0 && (max_retries == 0 || restart_count < max_retries);
    case Kind::kAlways:
    case Kind::kUnlessStopped:
      return true;
  }
  return false;
}

bool RestartPolicy::StartsWithDaemon(bool stopped_by_user) const {
  // Docker: "always" comes back with the daemon even after a manual stop; "unless-stopped" not.
  return kind == Kind::kAlways || (kind == Kind::kUnlessStopped && !stopped_by_user);
}

absl::StatusOr<RestartPolicy> ParseRestartPolicy(const std::string& text) {
  RestartPolicy p;
  if (text.empty() || text == "no") return p;
  if (text == "always") {
    p.kind = RestartPolicy::Kind::kAlways;
    return p;
  }
  if (text == "unless-stopped") {
    p.kind = RestartPolicy::Kind::kUnlessStopped;
    return p;
  }
  if (text == "on-failure") {
    p.kind = RestartPolicy::Kind::kOnFailure;
    return p;
  }
  absl::string_view rest = text;
  if (absl::ConsumePrefix(&rest, "on-failure:")) {
    int n = 0;
    if (!absl::SimpleAtoi(rest, &n) || n < 0 || rest.empty() || !absl::ascii_isdigit(rest[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "restart policy \"", text, "\": the maximum retry count must be a number >= 0"));
    }
    p.kind = RestartPolicy::Kind::kOnFailure;
    p.max_retries = n;
    return p;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("restart policy \"", text,
                   "\": must be no, on-failure[:MAX_RETRIES], always or unless-stopped"));
}

absl::Duration RestartDelay(int restart_count) {
  int shift = std::clamp(restart_count, 0, 20);
  return std::min(absl::Milliseconds(100) * (1 << shift), absl::Minutes(1));
}

bool ValidContainerName(const std::string& name) {
  static const std::regex kName("^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$");
  return std::regex_match(name, kName);
}

absl::StatusOr<int> ParseSignal(const std::string& text) {
  if (text.empty()) return SIGKILL;
  int n = 0;
  if (absl::SimpleAtoi(text, &n)) {
    if (n <= 0 || n >= NSIG)
      return absl::InvalidArgumentError(absl::StrCat("invalid signal \"", text, "\""));
    return n;
  }
  std::string name = absl::AsciiStrToUpper(text);
  if (absl::StartsWith(name, "SIG")) name = name.substr(3);
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && name == abbrev) return sig;
  }
  // Real-time signals: RTMIN, RTMIN+n, RTMAX, RTMAX-n (signal(7)).
  absl::string_view rest = name;
  int base = 0, sign = 1;
  if (absl::ConsumePrefix(&rest, "RTMIN")) {
    base = SIGRTMIN;
  } else if (absl::ConsumePrefix(&rest, "RTMAX")) {
    base = SIGRTMAX;
    sign = -1;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("invalid signal \"", text, "\""));
  }
  int offset = 0;
  if (!rest.empty() && (!absl::ConsumePrefix(&rest, sign > 0 ? "+" : "-") || rest.empty() ||
                        !absl::ascii_isdigit(rest[0]) || !absl::SimpleAtoi(rest, &offset))) {
    return absl::InvalidArgumentError(absl::StrCat("invalid signal \"", text, "\""));
  }
  const int rt = base + sign * offset;
  if (rt < SIGRTMIN || rt > SIGRTMAX)
    return absl::InvalidArgumentError(absl::StrCat("invalid signal \"", text, "\""));
  return rt;
}

}  // namespace kapsel::daemon
