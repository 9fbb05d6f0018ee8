#include "daemon/ulimits.h"

#include <sys/capability.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace kapsel::daemon {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

std::string LimitText(uint64_t v) { return v == RLIM_INFINITY ? "unlimited" : absl::StrCat(v); }

struct UlimitKind {
  const char* name;  // Docker's
  const char* type;  // OCI's
  int resource;
};

constexpr UlimitKind kUlimitKinds[] = {
    {"as", "RLIMIT_AS", RLIMIT_AS},
    {"core", "RLIMIT_CORE", RLIMIT_CORE},
    {"cpu", "RLIMIT_CPU", RLIMIT_CPU},
    {"data", "RLIMIT_DATA", RLIMIT_DATA},
    {"fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"locks", "RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"nice", "RLIMIT_NICE", RLIMIT_NICE},
    {"nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"nproc", "RLIMIT_NPROC", RLIMIT_NPROC},
    {"rss", "RLIMIT_RSS", RLIMIT_RSS},
    {"rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"stack", "RLIMIT_STACK", RLIMIT_STACK},
};

}  // namespace

const std::map<std::string, std::string>& UlimitTypes() {
  static const auto* types = [] {
    auto* m = new std::map<std::string, std::string>;
    for (const UlimitKind& k : kUlimitKinds) (*m)[k.name] = k.type;
    return m;
  }();
  return *types;
}

absl::StatusOr<ProcessRlimit> ParseUlimit(const v1::Ulimit& u, absl::string_view field) {
  auto type = UlimitTypes().find(u.name());
  if (type == UlimitTypes().end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : UlimitTypes()) names.push_back(name);
    return FieldError(field, absl::StrCat("unknown ulimit \"", u.name(),
                                          "\"; known: ", absl::StrJoin(names, ", ")));
  }
  auto value = [&](int64_t v, const char* which) -> absl::StatusOr<uint64_t> {
    if (v == -1) return RLIM_INFINITY;
    if (v < 0) {
      return FieldError(field, absl::StrCat(which, " ", v, " is negative (-1 means unlimited)"));
    }
    return static_cast<uint64_t>(v);
  };
  auto soft = value(u.soft(), "soft");
  if (!soft.ok()) return soft.status();
  auto hard = value(u.hard(), "hard");
  if (!hard.ok()) return hard.status();
  if (*soft > *hard) {
    return FieldError(field, absl::StrCat(u.name(), ": soft limit ", LimitText(*soft),
                                          " is above the hard limit ", LimitText(*hard)));
  }
  return ProcessRlimit{type->second, *soft, *hard};
}

absl::StatusOr<v1::Ulimit> ParseUlimitText(absl::string_view text) {
  std::vector<std::string> name_value = absl::StrSplit(text, absl::MaxSplits('=', 1));
  std::vector<std::string> limits =
      name_value.size() == 2 ? absl::StrSplit(name_value[1], ':') : std::vector<std::string>{};
  int64_t soft = 0, hard = 0;
  if (name_value.size() != 2 || name_value[0].empty() || limits.empty() || limits.size() > 2 ||
      !absl::SimpleAtoi(limits[0], &soft) ||
      !absl::SimpleAtoi(limits.size() == 2 ? limits[1] : limits[0], &hard)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ulimit \"", text, "\": not NAME=SOFT[:HARD] (e.g. nofile=1024:4096)"));
  }
  v1::Ulimit u;
  u.set_name(name_value[0]);
  u.set_soft(soft);
  u.set_hard(hard);
  return u;
}

uint64_t DaemonHardLimit(const std::string& type) {
  for (const UlimitKind& k : kUlimitKinds) {
    struct rlimit rl;
    if (type == k.type && getrlimit(static_cast<__rlimit_resource>(k.resource), &rl) == 0) {
      return rl.rlim_max;
    }
  }
  return RLIM_INFINITY;  // unknown here: the runtime's setrlimit decides
}

absl::StatusOr<std::vector<ProcessRlimit>> ContainerRlimits(
    const std::vector<ProcessRlimit>& defaults,
    const google::protobuf::RepeatedPtrField<v1::Ulimit>& request, bool can_raise,
    HardLimitOf hard_limit_of) {
  std::vector<ProcessRlimit> out = defaults;
  std::vector<std::string> given;
  for (const v1::Ulimit& u : request) {
    const std::string field = absl::StrCat("ulimit ", u.name());
    auto limit = ParseUlimit(u, field);
    if (!limit.ok()) return limit.status();
    for (const std::string& type : given) {
      if (type == limit->type) return FieldError(field, "given twice");
    }
    given.push_back(limit->type);
    if (!can_raise) {
      const uint64_t max = hard_limit_of(limit->type);
      if (limit->hard > max) {
        return FieldError(field,
                          absl::StrCat("hard limit ", LimitText(limit->hard),
                                       " is above the daemon's own hard limit ", LimitText(max),
                                       ", and raising it needs CAP_SYS_RESOURCE"));
      }
    }
    bool replaced = false;
    for (ProcessRlimit& d : out) {
      if (d.type == limit->type) {
        d = *limit;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(*limit);
  }
  return out;
}

bool CanRaiseRlimits() {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t value = CAP_CLEAR;
  const bool ok = cap_get_flag(caps, CAP_SYS_RESOURCE, CAP_EFFECTIVE, &value) == 0;
  cap_free(caps);
  return ok && value == CAP_SET;
}

}  // namespace kapsel::daemon
